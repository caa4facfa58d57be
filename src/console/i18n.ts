import { createContext, useContext } from "react";

/**
 * The console's two languages. English is the reference; the Chinese table must have every key
 * (TypeScript checks it), in the seed documents' own terms (Secret落盘加密, 基本信息, 更新中, 运行中,
 * 历史事件查询). A plain typed table rather than an i18n library: two fixed languages, no plurals
 * rules, no loading, and a missing translation is a compile error.
 */
const en = {
  "app.title": "atrest console",
  "nav.clusters": "Clusters",
  "nav.kms": "KMS",
  "nav.events": "Event Query",
  "nav.ram": "RAM",
  "nav.signOut": "Sign out",
  "nav.language": "Language",
  "signin.title": "Sign in to atrest",
  "signin.accessKeyId": "AccessKey ID",
  "signin.accessKeySecret": "AccessKey Secret",
  "signin.submit": "Sign in",
  "signin.failed": "Sign-in failed",
  "common.loading": "Loading…",
  "common.error": "Error",
  "common.ok": "OK",
  "common.cancel": "Cancel",
  "common.refresh": "Refresh",
  "common.none": "None",
  "common.enabled": "Enabled",
  "common.disabled": "Disabled",
  "common.actions": "Actions",
  "common.close": "Close",
  "common.previous": "Previous page",
  "common.next": "Next page",
  "kms.title": "Keys",
  "kms.create": "Create Key",
  "kms.keyId": "Key ID",
  "kms.alias": "Alias",
  "kms.state": "State",
  "kms.spec": "Key spec",
  "kms.protection": "Protection",
  "kms.protection.SOFTWARE": "Software",
  "kms.protection.HSM": "Hardware (HSM)",
  "kms.rotation": "Automatic rotation",
  "kms.rotationEvery": "every {days} days",
  "kms.deletionProtection": "Deletion protection",
  "kms.clusters": "Clusters using it",
  "kms.created": "Created",
  "kms.description": "Description",
  "kms.versions": "Key versions",
  "kms.versionId": "Version ID",
  "kms.primary": "primary",
  "kms.enable": "Enable",
  "kms.disable": "Disable",
  "kms.rotateNow": "Rotate now",
  "kms.scheduleDeletion": "Schedule deletion",
  "kms.cancelDeletion": "Cancel deletion",
  "kms.pendingWindow": "Pending window (days)",
  "kms.protectOn": "Turn deletion protection on",
  "kms.protectOff": "Turn deletion protection off",
  "kms.deleteDate": "Deleted on",
  "kms.refused": "Refused",
  "kms.rotationDays": "Rotate every (days, empty for never)",
  "kms.created.ok": "Key created: {id}",
  "kms.done": "Done",
  "events.title": "Event Query",
  "events.start": "Start time",
  "events.end": "End time",
  "events.eventName": "Event name",
  "events.service": "Service name",
  "events.user": "User or role name",
  "events.resource": "Resource name",
  "events.search": "Search",
  "events.time": "Time",
  "events.source": "Source IP",
  "events.none": "No events match.",
  "events.record": "Event record",
  "events.details": "Details",
  "ram.title": "RAM",
  "ram.users": "Users",
  "ram.roles": "Roles",
  "ram.policies": "Policies",
  "ram.userName": "User name",
  "ram.roleName": "Role name",
  "ram.policyName": "Policy name",
  "ram.policyType": "Type",
  "ram.attached": "Attached policies",
  "ram.attach": "Attach",
  "ram.detach": "Detach",
  "ram.policyToAttach": "Policy to attach",
  "ram.createDeny": "Create the deny policy of the Secret encryption guide",
  "ram.denyName": "DenyUpdateKMSEncryption",
  "ram.clusterRoles": "Cluster role assignments",
  "ram.description": "Description",
} as const;

export type MessageKey = keyof typeof en;

const zh: Record<MessageKey, string> = {
  "app.title": "atrest 控制台",
  "nav.clusters": "集群",
  "nav.kms": "密钥管理服务",
  "nav.events": "历史事件查询",
  "nav.ram": "访问控制",
  "nav.signOut": "退出登录",
  "nav.language": "语言",
  "signin.title": "登录 atrest",
  "signin.accessKeyId": "AccessKey ID",
  "signin.accessKeySecret": "AccessKey Secret",
  "signin.submit": "登录",
  "signin.failed": "登录失败",
  "common.loading": "加载中…",
  "common.error": "错误",
  "common.ok": "确定",
  "common.cancel": "取消",
  "common.refresh": "刷新",
  "common.none": "无",
  "common.enabled": "已开启",
  "common.disabled": "已关闭",
  "common.actions": "操作",
  "common.close": "关闭",
  "common.previous": "上一页",
  "common.next": "下一页",
  "kms.title": "密钥",
  "kms.create": "创建密钥",
  "kms.keyId": "密钥ID",
  "kms.alias": "别名",
  "kms.state": "状态",
  "kms.spec": "密钥规格",
  "kms.protection": "保护级别",
  "kms.protection.SOFTWARE": "软件",
  "kms.protection.HSM": "硬件（HSM）",
  "kms.rotation": "自动轮转",
  "kms.rotationEvery": "每 {days} 天",
  "kms.deletionProtection": "删除保护",
  "kms.clusters": "使用该密钥的集群",
  "kms.created": "创建时间",
  "kms.description": "描述",
  "kms.versions": "密钥版本",
  "kms.versionId": "版本ID",
  "kms.primary": "主版本",
  "kms.enable": "启用",
  "kms.disable": "禁用",
  "kms.rotateNow": "立即轮转",
  "kms.scheduleDeletion": "计划删除",
  "kms.cancelDeletion": "取消删除",
  "kms.pendingWindow": "预删除周期（天）",
  "kms.protectOn": "开启删除保护",
  "kms.protectOff": "关闭删除保护",
  "kms.deleteDate": "删除日期",
  "kms.refused": "操作被拒绝",
  "kms.rotationDays": "轮转周期（天，留空则不轮转）",
  "kms.created.ok": "已创建密钥：{id}",
  "kms.done": "完成",
  "events.title": "历史事件查询",
  "events.start": "开始时间",
  "events.end": "结束时间",
  "events.eventName": "事件名称",
  "events.service": "服务名称",
  "events.user": "用户或角色名称",
  "events.resource": "资源名称",
  "events.search": "查询",
  "events.time": "时间",
  "events.source": "源IP地址",
  "events.none": "没有符合条件的事件。",
  "events.record": "事件详情",
  "events.details": "详情",
  "ram.title": "访问控制",
  "ram.users": "用户",
  "ram.roles": "角色",
  "ram.policies": "权限策略",
  "ram.userName": "用户名",
  "ram.roleName": "角色名称",
  "ram.policyName": "策略名称",
  "ram.policyType": "类型",
  "ram.attached": "已授权的策略",
  "ram.attach": "授权",
  "ram.detach": "移除授权",
  "ram.policyToAttach": "要授权的策略",
  "ram.createDeny": "创建 Secret 落盘加密文档中的拒绝策略",
  "ram.denyName": "DenyUpdateKMSEncryption",
  "ram.clusterRoles": "集群角色授权",
  "ram.description": "描述",
};

export type Lang = "en" | "zh-CN";
const TABLES: Record<Lang, Record<MessageKey, string>> = { en, "zh-CN": zh };
const STORAGE_KEY = "atrest-console-lang";

/** The language: the user's switch if they used it, else the browser's. */
export function initialLang(): Lang {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved === "en" || saved === "zh-CN") return saved;
  return navigator.languages.some((l) => l.toLowerCase().startsWith("zh")) ? "zh-CN" : "en";
}

export function saveLang(lang: Lang): void {
  localStorage.setItem(STORAGE_KEY, lang);
  document.documentElement.lang = lang;
}

export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

export function translator(lang: Lang): Translate {
  const table = TABLES[lang];
  return (key, vars) =>
    table[key].replace(/\{(\w+)\}/g, (m, name: string) =>
      vars?.[name] === undefined ? m : String(vars[name]),
    );
}

export const LangContext = createContext<{ lang: Lang; t: Translate; setLang: (l: Lang) => void }>({
  lang: "en",
  t: translator("en"),
  setLang: () => undefined,
});

export const useT = () => useContext(LangContext);
