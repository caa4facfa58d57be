/** The control plane's watch of its clusters on the identity store's SQLite (support/cluster-watch-suite.ts). */
import { clusterWatchSuite } from "./support/cluster-watch-suite.js";

clusterWatchSuite("sqlite");
