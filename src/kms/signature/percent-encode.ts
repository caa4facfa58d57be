/**
 * RFC 3986 percent-encoding as Alibaba Cloud's signatures use it: the unreserved characters
 * `A-Z a-z 0-9 - _ . ~` stay as they are, every other UTF-8 byte becomes `%XX` (upper-case hex), so a
 * space is `%20` (never `+`) and `*` is `%2A`. Same result as the SDKs' `encode()`
 * (encodeURIComponent plus `!'()*`), written out so that no character class is left to chance.
 */
export function percentEncode(s: string): string {
  let out = "";
  for (const byte of Buffer.from(s, "utf8")) {
    if (
      (byte >= 0x41 && byte <= 0x5a) || // A-Z
      (byte >= 0x61 && byte <= 0x7a) || // a-z
      (byte >= 0x30 && byte <= 0x39) || // 0-9
      byte === 0x2d || // -
      byte === 0x5f || // _
      byte === 0x2e || // .
      byte === 0x7e // ~
    ) {
      out += String.fromCharCode(byte);
    } else {
      out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
    }
  }
  return out;
}
