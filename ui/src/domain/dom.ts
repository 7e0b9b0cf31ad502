import type { InputHTMLAttributes } from "vue";

/** `input-props` for a Naive UI input: attributes for the inner <input> (test ids, autocomplete). */
export function inputAttrs(testid: string, extra: Record<string, string> = {}): InputHTMLAttributes {
  return { "data-testid": testid, ...extra } as InputHTMLAttributes;
}
