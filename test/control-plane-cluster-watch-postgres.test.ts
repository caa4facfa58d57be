/**
 * The control plane's watch of its clusters with the identity store (and the control plane's tables,
 * the lease among them) on a real PostgreSQL: two instances, one lease holder (support/cluster-watch-suite.ts).
 */
import { clusterWatchSuite } from "./support/cluster-watch-suite.js";

clusterWatchSuite("postgres");
