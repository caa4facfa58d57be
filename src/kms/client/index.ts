export { KmsClient, KMS_API_VERSION, type KmsClientOptions, type KmsParams } from "./kms-client.js";
export { loadKmsProfile, parseKmsProfile, clientOptionsFromProfile, type KmsProfile } from "./profile.js";
export { CLUSTER_TAG_PREFIX, clusterTagKey } from "./cluster-tag.js";
