import type { KmsProfile } from "../kms/client/index.js";
import { writeFileAtomic } from "../common/atomic-file.js";

/**
 * Writes the client profile `atrest kms --profile FILE …` reads (src/kms/client/profile.ts). Rewritten
 * on every start because the KMS may listen on a different free port each time. 0600: it holds the
 * admin access key secret.
 */
export function writeUpKmsProfile(path: string, profile: KmsProfile): void {
  writeFileAtomic(path, JSON.stringify(profile, null, 2) + "\n", 0o600);
}
