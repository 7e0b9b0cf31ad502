import { computed, type WritableComputedRef } from "vue";
import { createI18n, useI18n } from "vue-i18n";
import en from "./en";
import zhCN, { type MessageSchema } from "./zh-CN";

// Message keys of the zh-CN reference, for editors and `useI18n` typings.
declare module "vue-i18n" {
  export interface DefineLocaleMessage extends MessageSchema {}
}

export const LOCALES = ["zh-CN", "en"] as const;
export type Locale = (typeof LOCALES)[number];

/** localStorage key for the officer's language choice. */
export const LOCALE_STORAGE_KEY = "jsjb.locale";

export function isLocale(value: unknown): value is Locale {
  return typeof value === "string" && (LOCALES as readonly string[]).includes(value);
}

function storedLocale(): Locale {
  try {
    const value = localStorage.getItem(LOCALE_STORAGE_KEY);
    return isLocale(value) ? value : "zh-CN";
  } catch {
    // Storage can be unavailable: Chinese is the default.
    return "zh-CN";
  }
}

function remember(locale: Locale): void {
  document.documentElement.lang = locale;
  try {
    localStorage.setItem(LOCALE_STORAGE_KEY, locale);
  } catch {
    // Not remembered across restarts, but the switch itself still works.
  }
}

/** A fresh i18n instance, starting from the stored choice (Chinese by default). */
export function createAppI18n() {
  const locale = storedLocale();
  document.documentElement.lang = locale;
  return createI18n<[MessageSchema], Locale, false>({
    legacy: false,
    locale,
    fallbackLocale: "zh-CN",
    messages: { "zh-CN": zhCN, en },
  });
}

/** The current language, writable: setting it switches the UI and remembers the choice. */
export function useLanguage(): WritableComputedRef<Locale> {
  const { locale } = useI18n({ useScope: "global" });
  return computed<Locale>({
    get: () => (isLocale(locale.value) ? locale.value : "zh-CN"),
    set: (value) => {
      locale.value = value;
      remember(value);
    },
  });
}
