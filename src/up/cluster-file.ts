import { writeFileAtomic } from "../common/atomic-file.js";
import { renderClusterFile, type ClusterFileInput } from "../operations/cluster-file.js";

/**
 * Writes `<data-dir>/cluster.yaml`, the cluster file `atrest encryption status|enable|… --cluster`
 * reads for this `atrest up`: its apiserver and configuration file, its store, the KMS profile and the
 * plugin socket. 0600 like the profile it names.
 */
export function writeUpClusterFile(path: string, input: ClusterFileInput): void {
  writeFileAtomic(path, renderClusterFile(input), 0o600);
}
