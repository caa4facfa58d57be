/**
 * kube-apiserver's generateCacheKey for decrypted KMS v2 DEKs/seeds: uint32 type ‖ uint16-prefixed
 * encryptedDEKSource ‖ uint16-prefixed keyID ‖ (when there are annotations) uint32 count ‖ for each
 * annotation, sorted by name, uint16-prefixed name ‖ uint16-prefixed value. Returned as a latin1 string
 * (one char per byte) for use as a Map key.
 */
export function kmsV2CacheKey(
  type: number,
  encryptedDEKSource: Uint8Array,
  keyID: string,
  annotations: Readonly<Record<string, Uint8Array>>,
): string {
  const names = Object.keys(annotations);
  const keyIdBytes = Buffer.from(keyID, "utf8");
  let size = 4 + 2 + encryptedDEKSource.length + 2 + keyIdBytes.length;
  const encodedNames: Buffer[] = [];
  if (names.length > 0) {
    names.sort();
    size += 4;
    for (const n of names) {
      const nb = Buffer.from(n, "utf8");
      encodedNames.push(nb);
      size += 2 + nb.length + 2 + annotations[n]!.length;
    }
  }
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt32BE(type >>> 0, 0);
  at = out.writeUInt16BE(encryptedDEKSource.length & 0xffff, at);
  out.set(encryptedDEKSource, at);
  at += encryptedDEKSource.length;
  at = out.writeUInt16BE(keyIdBytes.length & 0xffff, at);
  keyIdBytes.copy(out, at);
  at += keyIdBytes.length;
  if (names.length > 0) {
    at = out.writeUInt32BE(names.length, at);
    names.forEach((n, i) => {
      const nb = encodedNames[i]!;
      const v = annotations[n]!;
      at = out.writeUInt16BE(nb.length & 0xffff, at);
      nb.copy(out, at);
      at += nb.length;
      at = out.writeUInt16BE(v.length & 0xffff, at);
      out.set(v, at);
      at += v.length;
    });
  }
  return out.toString("latin1");
}
