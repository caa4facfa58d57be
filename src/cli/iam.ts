import type { Command } from "commander";
import { AtrestError } from "../common/errors.js";
import {
  CS_SERVICE_ROLE,
  CS_SERVICE_ROLE_POLICY,
  CS_SERVICE_ROLE_TRUST_POLICY,
  parsePolicyDocument,
  parseTrustPolicy,
} from "../iam/index.js";
import type { KmsClient, KmsParams } from "../kms/client/kms-client.js";
import {
  addConnectionOptions,
  clientFrom,
  listText,
  readText,
  registerSpecCommands,
  str,
  type Flags,
  type Spec,
} from "./kms-admin.js";

/**
 * `atrest iam …`: RAM (2015-05-01) and STS (2015-04-01) on the identity endpoint (a profile's
 * `identityEndpoint`, or --endpoint), as thin clients: users, access keys, console passwords, roles
 * with trust policies, policies and attachments, quick authorization of ACK's service role, AssumeRole.
 */
const RAM = "2015-05-01";
const STS = "2015-04-01";
const USER: readonly [string, string, boolean] = ["--user-name <name>", "RAM user name", true];
const ROLE: readonly [string, string, boolean] = ["--role-name <name>", "RAM role name", true];
const POLICY: readonly [string, string, boolean] = ["--policy-name <name>", "policy name", true];
const POLICY_TYPE: readonly [string, string] = [
  "--policy-type <type>",
  "System or Custom (default: System for Aliyun* names)",
];

function documentFrom(f: Flags, inlineFlag: string, fileFlag: string, label: string): string {
  const inline = str(f, inlineFlag);
  const file = str(f, fileFlag);
  if ((inline === undefined) === (file === undefined))
    throw new AtrestError("invalid-argument", `${label}: give exactly one of the document or its file`);
  return inline ?? readText(file ?? "-", label);
}

const policyType = (f: Flags) =>
  str(f, "policyType") ?? (/^Aliyun/.test(str(f, "policyName") ?? "") ? "System" : "Custom");

function principalTarget(f: Flags): { kind: "User" | "Role"; params: KmsParams } {
  const user = str(f, "userName");
  const role = str(f, "roleName");
  if ((user === undefined) === (role === undefined))
    throw new AtrestError("invalid-argument", "give exactly one of --user-name or --role-name");
  return user !== undefined
    ? { kind: "User", params: { UserName: user } }
    : { kind: "Role", params: { RoleName: role } };
}

const SPECS: readonly Spec[] = [
  {
    name: "create-user",
    version: RAM,
    description: "create a RAM user",
    action: "CreateUser",
    options: [USER, ["--display-name <name>", "display name"]],
    params: (f) => ({ UserName: str(f, "userName"), DisplayName: str(f, "displayName") }),
  },
  {
    name: "get-user",
    version: RAM,
    description: "show a user",
    action: "GetUser",
    options: [USER],
    params: (f) => ({ UserName: str(f, "userName") }),
  },
  {
    name: "list-users",
    version: RAM,
    description: "list users",
    action: "ListUsers",
    params: () => ({}),
    text: listText("Users", "User", ["UserName", "UserId", "CreateDate"]),
  },
  {
    name: "delete-user",
    version: RAM,
    description: "delete a user (its access keys and policies first)",
    action: "DeleteUser",
    options: [USER],
    params: (f) => ({ UserName: str(f, "userName") }),
  },
  {
    name: "create-access-key",
    version: RAM,
    description: "create an access key for a user (the secret is shown once)",
    action: "CreateAccessKey",
    options: [USER],
    params: (f) => ({ UserName: str(f, "userName") }),
    text: (r) => {
      const k = (r["AccessKey"] ?? {}) as Record<string, string>;
      return `AccessKeyId: ${k["AccessKeyId"]}\nAccessKeySecret: ${k["AccessKeySecret"]}\n(the secret is not shown again; store it now)\n`;
    },
  },
  {
    name: "list-access-keys",
    version: RAM,
    description: "list a user's access keys (ids only)",
    action: "ListAccessKeys",
    options: [USER],
    params: (f) => ({ UserName: str(f, "userName") }),
    text: listText("AccessKeys", "AccessKey", ["AccessKeyId", "Status", "CreateDate"]),
  },
  {
    name: "delete-access-key",
    version: RAM,
    description: "delete a user's access key",
    action: "DeleteAccessKey",
    options: [USER, ["--user-access-key-id <id>", "the access key to delete", true]],
    params: (f) => ({ UserName: str(f, "userName"), UserAccessKeyId: str(f, "userAccessKeyId") }),
  },
  {
    name: "set-password",
    version: RAM,
    description: "set a user's console password (read from a file or stdin, never a flag)",
    action: (f) => (f["update"] === true ? "UpdateLoginProfile" : "CreateLoginProfile"),
    label: "CreateLoginProfile, UpdateLoginProfile",
    options: [
      USER,
      ["--password-file <file>", "file holding the password ('-' for stdin)", true],
      ["--update", "change an existing password"],
      ["--password-reset-required", "ask for a new one at the next sign-in"],
    ],
    params: (f) => ({
      UserName: str(f, "userName"),
      Password: readText(str(f, "passwordFile") ?? "-", "--password-file").replace(/\r?\n$/, ""),
      PasswordResetRequired: f["passwordResetRequired"] === true ? "true" : undefined,
    }),
  },
  {
    name: "delete-password",
    version: RAM,
    description: "remove a user's console password",
    action: "DeleteLoginProfile",
    options: [USER],
    params: (f) => ({ UserName: str(f, "userName") }),
  },
  {
    name: "create-role",
    version: RAM,
    description: "create a role with a trust policy (who may assume it)",
    action: "CreateRole",
    options: [
      ROLE,
      ["--trust-policy <json>", "the AssumeRolePolicyDocument"],
      ["--trust-policy-file <file>", "read it from a file ('-' for stdin)"],
      ["--max-session-duration <seconds>", "3600-43200 (default 3600)"],
      ["--description <text>", "description"],
    ],
    params: (f) => {
      const doc = documentFrom(f, "trustPolicy", "trustPolicyFile", "create-role");
      parseTrustPolicy(doc); // every problem with its path, before the call
      return {
        RoleName: str(f, "roleName"),
        AssumeRolePolicyDocument: doc,
        MaxSessionDuration: str(f, "maxSessionDuration"),
        Description: str(f, "description"),
      };
    },
  },
  {
    name: "get-role",
    version: RAM,
    description: "show a role and its trust policy",
    action: "GetRole",
    options: [ROLE],
    params: (f) => ({ RoleName: str(f, "roleName") }),
  },
  {
    name: "list-roles",
    version: RAM,
    description: "list roles",
    action: "ListRoles",
    params: () => ({}),
    text: listText("Roles", "Role", ["RoleName", "RoleId", "Arn"]),
  },
  {
    name: "update-role",
    version: RAM,
    description: "change a role's trust policy or MaxSessionDuration",
    action: "UpdateRole",
    options: [
      ROLE,
      ["--trust-policy <json>", "the new AssumeRolePolicyDocument"],
      ["--trust-policy-file <file>", "read it from a file"],
      ["--max-session-duration <seconds>", "3600-43200"],
    ],
    params: (f) => {
      const doc =
        str(f, "trustPolicy") ??
        (str(f, "trustPolicyFile") === undefined
          ? undefined
          : readText(str(f, "trustPolicyFile")!, "--trust-policy-file"));
      if (doc !== undefined) parseTrustPolicy(doc);
      return {
        RoleName: str(f, "roleName"),
        NewAssumeRolePolicyDocument: doc,
        NewMaxSessionDuration: str(f, "maxSessionDuration"),
      };
    },
  },
  {
    name: "delete-role",
    version: RAM,
    description: "delete a role (its policies first)",
    action: "DeleteRole",
    options: [ROLE],
    params: (f) => ({ RoleName: str(f, "roleName") }),
  },
  {
    name: "create-policy",
    version: RAM,
    description: "create a custom policy (RAM grammar)",
    action: "CreatePolicy",
    options: [
      POLICY,
      ["--policy-document <json>", "the policy JSON"],
      ["--policy-document-file <file>", "read it from a file ('-' for stdin)"],
    ],
    params: (f) => {
      const doc = documentFrom(f, "policyDocument", "policyDocumentFile", "create-policy");
      parsePolicyDocument(doc);
      return { PolicyName: str(f, "policyName"), PolicyDocument: doc };
    },
  },
  {
    name: "get-policy",
    version: RAM,
    description: "show a policy and its document",
    action: "GetPolicy",
    options: [POLICY, POLICY_TYPE],
    params: (f) => ({ PolicyName: str(f, "policyName"), PolicyType: policyType(f) }),
  },
  {
    name: "list-policies",
    version: RAM,
    description: "list policies (system and custom)",
    action: "ListPolicies",
    options: [POLICY_TYPE],
    params: (f) => ({ PolicyType: str(f, "policyType") }),
    text: listText("Policies", "Policy", ["PolicyName", "PolicyType"]),
  },
  {
    name: "delete-policy",
    version: RAM,
    description: "delete a custom policy",
    action: "DeletePolicy",
    options: [POLICY],
    params: (f) => ({ PolicyName: str(f, "policyName") }),
  },
  {
    name: "attach-policy",
    version: RAM,
    description: "attach a policy to a user or a role",
    action: (f) => `AttachPolicyTo${principalTarget(f).kind}`,
    label: "AttachPolicyToUser, AttachPolicyToRole",
    options: [POLICY, POLICY_TYPE, ["--user-name <name>", "the user"], ["--role-name <name>", "the role"]],
    params: (f) => ({
      PolicyName: str(f, "policyName"),
      PolicyType: policyType(f),
      ...principalTarget(f).params,
    }),
  },
  {
    name: "detach-policy",
    version: RAM,
    description: "detach a policy from a user or a role",
    action: (f) => `DetachPolicyFrom${principalTarget(f).kind}`,
    label: "DetachPolicyFromUser, DetachPolicyFromRole",
    options: [POLICY, POLICY_TYPE, ["--user-name <name>", "the user"], ["--role-name <name>", "the role"]],
    params: (f) => ({
      PolicyName: str(f, "policyName"),
      PolicyType: policyType(f),
      ...principalTarget(f).params,
    }),
  },
  {
    name: "list-attached-policies",
    version: RAM,
    description: "list the policies of a user or a role",
    action: (f) => `ListPoliciesFor${principalTarget(f).kind}`,
    label: "ListPoliciesForUser, ListPoliciesForRole",
    options: [
      ["--user-name <name>", "the user"],
      ["--role-name <name>", "the role"],
    ],
    params: (f) => principalTarget(f).params,
    text: listText("Policies", "Policy", ["PolicyName", "PolicyType", "AttachDate"]),
  },
  {
    name: "assume-role",
    version: STS,
    description: "assume a role: temporary STS credentials (printed as JSON)",
    action: "AssumeRole",
    options: [
      ["--role-arn <arn>", "acs:ram::<account>:role/<name>", true],
      ["--role-session-name <name>", "the session's name in the audit trail", true],
      ["--duration-seconds <n>", "900 to the role's MaxSessionDuration (default 3600)"],
      ["--policy <json>", "a policy that narrows the session"],
      ["--external-id <id>", "the ExternalId the trust policy asks for"],
    ],
    params: (f) => ({
      RoleArn: str(f, "roleArn"),
      RoleSessionName: str(f, "roleSessionName"),
      DurationSeconds: str(f, "durationSeconds"),
      Policy: str(f, "policy"),
      ExternalId: str(f, "externalId"),
    }),
    text: (r) => JSON.stringify(r["Credentials"], null, 2) + "\n",
  },
  {
    name: "get-caller-identity",
    version: STS,
    description: "who the credentials are",
    action: "GetCallerIdentity",
    params: () => ({}),
  },
];

async function ignoreExisting(p: Promise<unknown>): Promise<boolean> {
  try {
    await p;
    return true;
  } catch (err) {
    if (err instanceof AtrestError && err.code === "already-exists") return false;
    throw err;
  }
}

/** ACK's quick authorization, as a principal allowed to manage RAM does it (RAM API calls). */
async function quickAuthorize(client: KmsClient): Promise<Record<string, unknown>> {
  const created = await ignoreExisting(
    client.call(
      "CreateRole",
      {
        RoleName: CS_SERVICE_ROLE,
        AssumeRolePolicyDocument: CS_SERVICE_ROLE_TRUST_POLICY,
        Description: "ACK's service role for Secret encryption at rest",
      },
      { version: RAM },
    ),
  );
  const role = (await client.call("GetRole", { RoleName: CS_SERVICE_ROLE }, { version: RAM }))[
    "Role"
  ] as Record<string, unknown>;
  if (JSON.stringify(JSON.parse(String(role["AssumeRolePolicyDocument"]))) !== CS_SERVICE_ROLE_TRUST_POLICY)
    throw new AtrestError(
      "failed-precondition",
      `${CS_SERVICE_ROLE} exists with another trust policy; restore it with atrest iam update-role --trust-policy '${CS_SERVICE_ROLE_TRUST_POLICY}'`,
    );
  await client.call(
    "AttachPolicyToRole",
    { PolicyType: "System", PolicyName: CS_SERVICE_ROLE_POLICY, RoleName: CS_SERVICE_ROLE },
    { version: RAM },
  );
  return { RoleName: CS_SERVICE_ROLE, Arn: role["Arn"], Created: created, Policy: CS_SERVICE_ROLE_POLICY };
}

export function registerIam(program: Command): void {
  const iam = program
    .command("iam")
    .description("users, roles, policies (RAM) and STS on the identity endpoint")
    .option(
      "--profile <file>",
      "client profile JSON with identityEndpoint (also accepted after the command)",
    );
  registerSpecCommands(iam, SPECS, "identity");
  const qa = iam
    .command("quick-authorize")
    .description(
      `create ${CS_SERVICE_ROLE} trusting cs.aliyuncs.com with ${CS_SERVICE_ROLE_POLICY} (ACK's quick authorization; idempotent)`,
    );
  addConnectionOptions(qa).action(async (flags: Flags) => {
    const parentProfile = iam.opts<{ profile?: string }>().profile;
    const client = clientFrom(
      flags.profile === undefined && parentProfile !== undefined
        ? { ...flags, profile: parentProfile }
        : flags,
      "identity",
    );
    try {
      const r = await quickAuthorize(client);
      process.stdout.write(
        flags.output === "json"
          ? JSON.stringify(r, null, 2) + "\n"
          : `authorized ${String(r["Arn"])} (${CS_SERVICE_ROLE_POLICY})\n`,
      );
    } finally {
      client.close();
    }
  });
}
