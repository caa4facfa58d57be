/**
 * RFC 3986 percent-encoding as Alibaba Cloud's signatures use it: the unreserved characters
 * `A-Z a-z 0-9 - _ . ~` stay as they are, every other UTF-8 byte becomes `%XX` (upper-case hex), so a
 * space is `%20` (never `+`) and `*` is `%2A`. Same result as the SDKs' `encode()`
 * (encodeURIComponent plus `!'()*`). Every signed request encodes each parameter twice, so the common
 * cases take the engine's encoder; the byte loop is the reference and handles lone surrogates, which
 * encodeURIComponent refuses (UTF-8 encoding turns them into U+FFFD, as Buffer.from does).
 */
const ALL_UNRESERVED = /^[A-Za-z0-9\-_.~]*$/;
const KEPT_BY_ENCODE_URI_COMPONENT = /[!'()*]/g;

export function percentEncode(s: string): string {
  if (ALL_UNRESERVED.test(s)) return s;
  let encoded: string;
  try {
    encoded = encodeURIComponent(s);
  } catch {
    return percentEncodeBytes(s);
  }
  return encoded.replace(
    KEPT_BY_ENCODE_URI_COMPONENT,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

/** The definition, byte by byte over the UTF-8 encoding. */
export function percentEncodeBytes(s: string): string {
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
