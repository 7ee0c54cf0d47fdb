from imagebatch.cli.main import main

if __name__ == "__main__":  # worker processes (spawn/forkserver) import this module too
    main()
