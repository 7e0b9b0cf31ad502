// The handwritten signature as a PNG the server accepts (at most `MAX_HANDWRITING_BYTES`, docs/signoff.md).

import { MAX_HANDWRITING_BYTES } from "../../ipc/bindings/limits";

/** The cap on the handwriting image (the server's and the desktop's, defined in Rust). */
export const MAX_PNG_BYTES = MAX_HANDWRITING_BYTES;

/** The bytes a standard base64 string decodes to. */
export function base64Bytes(b64: string): number {
  const s = b64.trim();
  if (!s) return 0;
  const padding = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
  return (s.length / 4) * 3 - padding;
}

/** `data:image/png;base64,XXXX` → `XXXX`; `null` for anything but a PNG data URL. */
export function pngDataUrlToBase64(url: string): string | null {
  const prefix = "data:image/png;base64,";
  return url.startsWith(prefix) ? url.slice(prefix.length) : null;
}

/** Scales tried, largest first, until the PNG fits under the cap. */
export const SCALES = [2, 1.5, 1, 0.75, 0.5] as const;

/**
 * Renders the signature at decreasing scales (`render(scale)` returns a data URL) and
 * keeps the first PNG under `maxBytes`; `null` when even the smallest does not fit.
 */
export function fitPng(render: (scale: number) => string, maxBytes = MAX_PNG_BYTES): string | null {
  for (const scale of SCALES) {
    const b64 = pngDataUrlToBase64(render(scale));
    if (b64 !== null && base64Bytes(b64) <= maxBytes) return b64;
  }
  return null;
}

export type Point = { x: number; y: number; p: number };
export type Stroke = Point[];

/** Draws the strokes (in CSS pixels) on a context scaled by `scale`. */
export function drawStrokes(ctx: CanvasRenderingContext2D, strokes: Stroke[], scale: number): void {
  ctx.save();
  ctx.scale(scale, scale);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = "#10131a";
  for (const stroke of strokes) {
    const [pt] = stroke;
    if (pt && stroke.length === 1) {
      ctx.beginPath();
      ctx.arc(pt.x, pt.y, width(pt.p) / 2, 0, Math.PI * 2);
      ctx.fillStyle = "#10131a";
      ctx.fill();
      continue;
    }
    for (let i = 1; i < stroke.length; i++) {
      const a = stroke[i - 1];
      const b = stroke[i];
      if (!a || !b) continue;
      ctx.beginPath();
      ctx.lineWidth = width((a.p + b.p) / 2);
      ctx.moveTo(a.x, a.y);
      ctx.lineTo(b.x, b.y);
      ctx.stroke();
    }
  }
  ctx.restore();
}

/** Line width from pen pressure (a mouse reports 0.5). */
function width(pressure: number): number {
  const p = pressure > 0 ? pressure : 0.5;
  return 1.2 + p * 2.6;
}
