import { AtrestError } from "../common/errors.js";
import type { Store } from "../storage/store.js";

/** The embedded SQLite datastore (engineer E's store); loaded only when the flags ask for it. */
export async function openSqliteDatastore(_path: string): Promise<Store> {
  throw new AtrestError("unimplemented", "the SQLite datastore is not available yet; use --etcd-servers or --datastore-endpoint memory://");
}
