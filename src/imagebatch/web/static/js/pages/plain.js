// Pages with nothing of their own to do (the 403 page): only the shared top bar.
import { refreshCredits } from "../lib/shell.js";

refreshCredits().catch(() => {});
