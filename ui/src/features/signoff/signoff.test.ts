import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { mount } from "@vue/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import { exportSignedForm } from "./api";
import { createAppI18n } from "../../i18n";
import type { FeedbackForm } from "../../ipc/bindings";
import PaperForm from "./PaperForm.vue";
import SignatureBadge from "./SignatureBadge.vue";
import SignaturePad from "./SignaturePad.vue";
import { base64Bytes, fitPng, MAX_PNG_BYTES, pngDataUrlToBase64, SCALES } from "./png";

/** A data URL whose PNG decodes to `bytes` bytes. */
function pngUrl(bytes: number): string {
  return `data:image/png;base64,${btoa("x".repeat(bytes))}`;
}

describe("the PNG export", () => {
  it("measures base64 exactly", () => {
    expect(base64Bytes(btoa("abc"))).toBe(3);
    expect(base64Bytes(btoa("abcd"))).toBe(4);
    expect(base64Bytes(btoa("abcde"))).toBe(5);
    expect(pngDataUrlToBase64("data:image/jpeg;base64,AAAA")).toBeNull();
  });

  it("keeps the largest rendering under 192 KiB, and gives up when none fits", () => {
    const sizes: Record<number, number> = { 2: 300_000, 1.5: 200_000, 1: 150_000, 0.75: 90_000, 0.5: 40_000 };
    const tried: number[] = [];
    const b64 = fitPng((scale) => {
      tried.push(scale);
      return pngUrl(sizes[scale] ?? 0);
    });
    expect(tried).toEqual([2, 1.5, 1]);
    expect(base64Bytes(b64 ?? "")).toBe(150_000);
    expect(base64Bytes(b64 ?? "")).toBeLessThanOrEqual(MAX_PNG_BYTES);
    expect(fitPng(() => pngUrl(MAX_PNG_BYTES + 1))).toBeNull();
    expect(fitPng(() => pngUrl(MAX_PNG_BYTES))).not.toBeNull();
  });
});

/** A 2D context that records nothing: happy-dom has no canvas. */
function fakeContext(): CanvasRenderingContext2D {
  const noop = () => {};
  return new Proxy({}, { get: (_t, k) => (k === "canvas" ? undefined : noop), set: () => true }) as unknown as CanvasRenderingContext2D;
}

describe("the signature pad", () => {
  afterEach(() => vi.restoreAllMocks());

  function pointer(type: string, x: number, y: number, pointerType = "pen"): PointerEvent {
    const e = new MouseEvent(type, { clientX: x, clientY: y, button: 0, bubbles: true }) as unknown as PointerEvent;
    Object.defineProperty(e, "pointerType", { value: pointerType });
    Object.defineProperty(e, "pointerId", { value: 1 });
    Object.defineProperty(e, "pressure", { value: 0.7 });
    return e;
  }

  it("draws with pointer events and exports a PNG; clear empties it", async () => {
    vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockImplementation(() => fakeContext() as never);
    const toDataURL = vi.spyOn(HTMLCanvasElement.prototype, "toDataURL").mockImplementation(() => pngUrl(1000));
    const wrapper = mount(SignaturePad, { global: { plugins: [createAppI18n()] } });
    const canvas = wrapper.find("[data-testid=signature-canvas]");
    await canvas.element.dispatchEvent(pointer("pointerdown", 10, 10));
    await canvas.element.dispatchEvent(pointer("pointermove", 40, 30));
    await canvas.element.dispatchEvent(pointer("pointerup", 40, 30));
    const changes = wrapper.emitted("change") ?? [];
    expect(changes.length).toBe(1);
    expect(changes[0]?.[0]).toBe(btoa("x".repeat(1000)));
    expect(toDataURL).toHaveBeenCalledWith("image/png");
    await wrapper.find("[data-testid=pad-clear]").trigger("click");
    expect(wrapper.emitted("change")?.at(-1)?.[0]).toBeNull();
  });

  it("refuses a signature that stays over the cap at every scale", async () => {
    vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockImplementation(() => fakeContext() as never);
    vi.spyOn(HTMLCanvasElement.prototype, "toDataURL").mockImplementation(() => pngUrl(MAX_PNG_BYTES + 10));
    const wrapper = mount(SignaturePad, { global: { plugins: [createAppI18n()] } });
    const canvas = wrapper.find("[data-testid=signature-canvas]").element;
    canvas.dispatchEvent(pointer("pointerdown", 5, 5, "touch"));
    canvas.dispatchEvent(pointer("pointerup", 5, 5, "touch"));
    await wrapper.vm.$nextTick();
    expect(wrapper.emitted("change")?.at(-1)?.[0]).toBeNull();
    expect(wrapper.find("[data-testid=pad-too-large]").exists()).toBe(true);
    expect(SCALES.length).toBeGreaterThan(1);
  });
});

const HOSTILE = '<img src=x onerror="alert(1)"><b>粗体</b>';

function form(): FeedbackForm {
  return {
    format: "jsjb-feedback-form/1",
    letter: {
      id: 7,
      code: "SZ-FT-2026-000123",
      channel: "phone",
      category: "complaint",
      received_at: "2026-11-20T01:00:00.000000Z",
      subject: HOSTILE,
      writer_name: "张**",
      writer_phone: "138****5678",
      version: 9,
    },
    handling_unit: { id: 12, name: "福田派出所" },
    handler: { id: 31, name: "刘警官" },
    milestones: [
      {
        clock: "sign_for",
        unit: { id: 12, name: "福田派出所" },
        started_at: "2026-11-20T01:05:00.000000Z",
        due_at: "2026-11-20T01:35:00.000000Z",
        original_due_at: null,
        met_at: "2026-11-20T01:10:00.000000Z",
        outcome: "met",
      },
      {
        clock: "closure",
        unit: null,
        started_at: "2026-11-20T01:05:00.000000Z",
        due_at: "2026-11-25T01:05:00.000000Z",
        original_due_at: null,
        met_at: "2026-11-26T01:05:00.000000Z",
        outcome: "met_late",
      },
    ],
    extensions: [],
    feedback: {
      submitted_at: "2026-11-26T01:00:00.000000Z",
      summary: "民警到场核实。\n<script>alert(2)</script>",
      result: "已解决",
      reply: HOSTILE,
    },
    decision: "approve",
    opinion: "同意。",
    signer: {
      user: { id: 40, name: "福田所长" },
      unit: { id: 12, name: "福田派出所" },
      role: "chief",
      on_behalf_of: { grant_id: 3, chief: { id: 41, name: "王所长" } },
    },
    handwriting_sha256: "00",
    signed_at: "2026-11-26T02:00:00.000000Z",
  } as FeedbackForm;
}

describe("the paper form", () => {
  it("shows every field of the form, citizen text as text, and 代 for a delegated signature", () => {
    const wrapper = mount(PaperForm, {
      props: { form: form(), handwriting: "iVBORw0KGgo=", verdict: "signature_valid" },
      global: { plugins: [createAppI18n()] },
    });
    const html = wrapper.html();
    expect(wrapper.find("[data-testid=form-code]").text()).toBe("SZ-FT-2026-000123");
    // Hostile text arrives as text: no element is created from it.
    expect(wrapper.find("[data-testid=form-subject]").text()).toBe(HOSTILE);
    expect(wrapper.find("[data-testid=form-subject] img").exists()).toBe(false);
    expect(wrapper.find("[data-testid=form-reply] b").exists()).toBe(false);
    expect(wrapper.find("[data-testid=form-summary] script").exists()).toBe(false);
    expect(wrapper.find("[data-testid=form-summary]").text()).toContain("<script>");
    for (const text of ["张**", "138****5678", "福田派出所", "刘警官", "按时", "超时完成", "同意办结", "同意。", "福田所长", "代", "王所长"]) {
      expect(html).toContain(text);
    }
    expect(wrapper.find("[data-testid=form-signature]").attributes("src")).toBe("data:image/png;base64,iVBORw0KGgo=");
    expect(wrapper.find("[data-testid=verdict-signature_valid]").text()).toContain("签名有效");
  });

  it("badges each verdict with its own colour, icon and text", () => {
    const texts = { signature_valid: "签名有效", content_modified: "内容已被修改", signature_invalid: "签名无效" } as const;
    const classes = new Set<string>();
    for (const [verdict, text] of Object.entries(texts)) {
      const w = mount(SignatureBadge, { props: { verdict: verdict as keyof typeof texts }, global: { plugins: [createAppI18n()] } });
      expect(w.text()).toContain(text);
      classes.add(w.classes().join(" "));
    }
    expect(classes.size).toBe(3);
  });
});

describe("the export of a signed form", () => {
  afterEach(() => clearMocks());

  it("names no folder: Rust asks the user with the dialog titled from the locale; null when cancelled", async () => {
    const calls: { cmd: string; args: unknown }[] = [];
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      return null;
    });
    const title = createAppI18n().global.t("signoff.exportDialogTitle");
    expect(title).toBe("选择保存 PDF 和验证包的文件夹");
    await expect(exportSignedForm(7, 12, title)).resolves.toBeNull();
    expect(calls).toEqual([{ cmd: "export_signed_form", args: { letterId: 7, seq: 12, dialogTitle: title } }]);
  });
});

describe("a wrong PIN", () => {
  it("says how many tries are left, then how long to wait", async () => {
    const { pinErrorText } = await import("./pinError");
    const i18n = createAppI18n();
    const t = i18n.global.t as unknown as Parameters<typeof pinErrorText>[0];
    expect(pinErrorText(t, { code: "wrong_pin", triesLeft: 2 })).toBe("PIN 码不正确，还可再试 2 次；之后每次输错须等待，且等待时间逐次加倍。");
    expect(pinErrorText(t, { code: "wrong_pin", triesLeft: 0 })).toContain("再输错将须等待");
    expect(pinErrorText(t, { code: "wrong_pin", retryAfterSecs: 60 })).toBe("PIN 码不正确，请 60 秒后再试。");
    expect(pinErrorText(t, { code: "pin_locked", retryAfterSecs: 3600 })).toContain("3600 秒");
    expect(pinErrorText(t, { code: "offline" })).toBeNull();
  });
});
