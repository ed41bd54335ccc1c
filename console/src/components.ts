/** Pieces every page uses: messages, the drop zone, quality and decision badges, authenticated images. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, imageUrl } from './api.ts';
import { html } from './html.ts';
import type { Decision, Quality } from './types.ts';

/** The API's own sentence for an error, or a plain one for anything else. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

export function ErrorMessage({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  return html`<p class="message error" role="alert">${messageOf(error)}</p>`;
}

export function Notice({ text }: { text: string | undefined }) {
  if (!text) return null;
  return html`<p class="message ok" role="status">${text}</p>`;
}

export const fmt = (n: number, digits = 3) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
export const when = (iso: string) => new Date(iso).toLocaleString();

const REASONS: Record<string, string> = {
  LOW_BRIGHTNESS: 'too dark',
  LOW_CONTRAST: 'low contrast',
  LOW_SHARPNESS: 'blurred',
  SMALL_FACE: 'face too small',
  EXTREME_POSE: 'head turned too far',
  LOW_CONFIDENCE: 'detector unsure',
};

export function QualityBadge({ quality }: { quality: Quality }) {
  const level = quality.score >= 0.7 ? 'good' : quality.score >= 0.4 ? 'fair' : 'poor';
  return html`<span class="quality ${level}">
    quality ${fmt(quality.score, 2)}${
      quality.reasons.length > 0
        ? html` <span class="reasons">(${quality.reasons.map((r) => REASONS[r] ?? r).join(', ')})</span>`
        : ''
    }
  </span>`;
}

export function DecisionBadge({ decision }: { decision: Decision }) {
  const who = decision.subjectName ?? decision.subjectId;
  const label =
    decision.kind === 'match'
      ? `match: ${who}`
      : decision.kind === 'ambiguous'
        ? `ambiguous: ${who}?`
        : 'unknown';
  return html`<span class="decision ${decision.kind}">${label}</span>`;
}

/** Similarity against the threshold, in words and as a bar (the threshold is the tick). */
export function SimilarityBar({ similarity, threshold }: { similarity: number; threshold: number }) {
  const pct = (v: number) => `${Math.max(0, Math.min(1, v)) * 100}%`;
  const above = similarity >= threshold;
  return html`<div class="similarity">
    <span>similarity ${fmt(similarity)} ${above ? '≥' : '<'} threshold ${fmt(threshold)}</span>
    <div class="bar" aria-hidden="true">
      <div class="fill ${above ? 'above' : 'below'}" style=${{ width: pct(similarity) }}></div>
      <div class="tick" style=${{ left: pct(threshold) }}></div>
    </div>
  </div>`;
}

/** An image behind the API key (fetched with the key, shown from a blob: URL). */
export function AuthImage({ path, alt, className }: { path: string; alt: string; className?: string }) {
  const [src, setSrc] = useState<string | undefined>();
  const [missing, setMissing] = useState(false);
  useEffect(() => {
    let url: string | undefined;
    let live = true;
    setMissing(false);
    imageUrl(path)
      .then((u) => {
        url = u;
        if (live) setSrc(u);
        else URL.revokeObjectURL(u);
      })
      .catch(() => live && setMissing(true));
    return () => {
      live = false;
      if (url) URL.revokeObjectURL(url);
    };
  }, [path]);
  if (missing) return html`<span class="noimage ${className ?? ''}">no photo</span>`;
  return src
    ? html`<img class=${className} src=${src} alt=${alt} />`
    : html`<span class="noimage ${className ?? ''}">…</span>`;
}

/**
 * A drop zone that is also a labelled file input: drag photos onto it, or focus it and press Enter / Space
 * to choose files with the keyboard.
 */
export function DropZone({
  label,
  multiple,
  disabled,
  onFiles,
}: {
  label: string;
  multiple: boolean;
  disabled?: boolean;
  onFiles: (files: File[]) => void;
}) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const take = (list: FileList | null | undefined) => {
    const files = list ? [...list] : [];
    if (files.length > 0) onFiles(multiple ? files : files.slice(0, 1));
  };
  return html`<div
    class="dropzone ${over ? 'over' : ''} ${disabled ? 'disabled' : ''}"
    role="button"
    tabindex="0"
    aria-disabled=${disabled ? 'true' : 'false'}
    aria-label=${label}
    onClick=${() => !disabled && input.current?.click()}
    onKeyDown=${(e: KeyboardEvent) => {
      if (!disabled && (e.key === 'Enter' || e.key === ' ')) {
        e.preventDefault();
        input.current?.click();
      }
    }}
    onDragOver=${(e: DragEvent) => {
      e.preventDefault();
      setOver(true);
    }}
    onDragLeave=${() => setOver(false)}
    onDrop=${(e: DragEvent) => {
      e.preventDefault();
      setOver(false);
      if (!disabled) take(e.dataTransfer?.files);
    }}
  >
    <span>${label}</span>
    <small>drop ${multiple ? 'photos' : 'a photo'} here, or press Enter to choose</small>
    <input
      ref=${input}
      type="file"
      accept="image/*"
      multiple=${multiple}
      hidden
      disabled=${disabled}
      aria-label=${label}
      onChange=${(e: Event) => {
        const target = e.currentTarget as HTMLInputElement;
        take(target.files);
        target.value = '';
      }}
    />
  </div>`;
}

/** Refuses, before any upload, what the API would refuse anyway: not an image, or larger than it accepts. */
export const MAX_UPLOAD_BYTES = 20 * 1024 * 1024;
export function precheck(file: File): string | undefined {
  if (file.type && !file.type.startsWith('image/')) {
    return `${file.name} is not an image (${file.type}); choose a JPEG, PNG, WebP or similar photo.`;
  }
  if (file.size > MAX_UPLOAD_BYTES) {
    return `${file.name} is ${(file.size / 1048576).toFixed(1)} MB; the server accepts photos up to 20 MB.`;
  }
  if (file.size === 0) return `${file.name} is empty.`;
  return undefined;
}
