/** StorageVersionMigration (storagemigration.k8s.io): the API's names and the in-process migrator. */
export { StorageVersionMigrator, type StorageVersionMigratorOptions } from "./controller.js";
export { SVM_CONTROLLER, SVM_GROUP } from "./api.js";
