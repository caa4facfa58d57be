import { Migrator, type Kysely, type Migration } from "kysely";
import { AtrestError } from "./errors.js";

/**
 * Applies a store's schema migrations in name order with Kysely's Migrator, which takes a lock in the
 * database, so concurrent starts (two KMS or control-plane instances on one PostgreSQL) are safe. Each
 * store keeps its own bookkeeping tables, `<table>_migrations` and `<table>_migrations_lock`. A failed
 * migration is "unavailable", naming the store (`what`) and the migration; the driver's error is the cause.
 */
export async function applyMigrations(
  db: Kysely<unknown>,
  migrations: Record<string, Migration>,
  names: { readonly table: string; readonly what: string },
): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(migrations) },
    migrationTableName: `${names.table}_migrations`,
    migrationLockTableName: `${names.table}_migrations_lock`,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "unknown";
    throw new AtrestError(
      "unavailable",
      `${names.what} migration ${failed} failed: ${error instanceof Error ? error.message : "unknown error"}`,
      { cause: error },
    );
  }
}
