/**
 * The end of the range of keys that start with `prefix`, as etcd defines it: the prefix with its last
 * byte below 0xff incremented (and what follows dropped). All 0xff (or empty) gives [0], etcd's "every
 * key from the start on".
 */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
