import { useMemo, useState, type ReactNode } from "react";
import { initialLang, LangContext, saveLang, translator, useT, type Lang } from "./i18n.js";

export function LangProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(() => {
    const l = initialLang();
    document.documentElement.lang = l;
    return l;
  });
  const value = useMemo(
    () => ({
      lang,
      t: translator(lang),
      setLang: (l: Lang) => {
        saveLang(l);
        setLangState(l);
      },
    }),
    [lang],
  );
  return <LangContext.Provider value={value}>{children}</LangContext.Provider>;
}

export function LangSwitch() {
  const { lang, setLang, t } = useT();
  return (
    <label className="lang">
      {t("nav.language")}{" "}
      <select value={lang} onChange={(e) => setLang(e.target.value as Lang)}>
        <option value="en">English</option>
        <option value="zh-CN">简体中文</option>
      </select>
    </label>
  );
}
