from imagebatch.cli.main import main

main()
