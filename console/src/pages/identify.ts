/**
 * Identify: drop an image, see every face boxed and numbered on it, and per face the decision, the similarity
 * against the threshold, the quality and its reasons, and the best candidates with their enrolled face beside
 * the probe face (cropped here, in the browser, from the box the API returned).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { enc, postImage } from '../api.ts';
import {
  AuthImage,
  DecisionBadge,
  DropZone,
  ErrorMessage,
  fmt,
  precheck,
  QualityBadge,
  SimilarityBar,
} from '../components.ts';
import { html } from '../html.ts';
import type { Box, IdentifiedFace, IdentifyResult } from '../types.ts';

const COLOURS = { match: '#1a7f37', ambiguous: '#9a6700', unknown: '#cf222e' } as const;
const MAX_CANVAS = 1400;

/** The probe's restoration in words: a reviewer weighs a match on a deblurred face with more care. */
function restorationNote(restoration: IdentifiedFace['restoration']): string {
  if (restoration === 'deblurred') return ' · deblurred (heavily blurred face, sharpened before matching)';
  if (restoration === 'smoothed') return ' · smoothed (compression blocks or noise)';
  return '';
}

function loadImage(url: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('The browser cannot show this image.'));
    img.src = url;
  });
}

/** The face with a margin, as a small PNG data URL (never sent anywhere). */
function cropFace(img: HTMLImageElement, box: Box, size = 112): string {
  const margin = 0.2;
  const side = Math.max(box.width, box.height) * (1 + 2 * margin);
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext('2d');
  if (!ctx) return '';
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, size, size);
  ctx.drawImage(img, cx - side / 2, cy - side / 2, side, side, 0, 0, size, size);
  return canvas.toDataURL('image/png');
}

function labelOf(face: IdentifiedFace, i: number): string {
  const d = face.decision;
  const who = d.subjectName ?? d.subjectId ?? '';
  return `#${i + 1} ${d.kind === 'match' ? who : d.kind === 'ambiguous' ? `${who}?` : 'unknown'} ${fmt(d.similarity, 2)}`;
}

function Annotated({ img, result }: { img: HTMLImageElement; result: IdentifyResult }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const el = canvas.current;
    if (!el) return;
    const scale = Math.min(1, MAX_CANVAS / Math.max(img.naturalWidth, img.naturalHeight));
    el.width = Math.round(img.naturalWidth * scale);
    el.height = Math.round(img.naturalHeight * scale);
    const ctx = el.getContext('2d');
    if (!ctx) return;
    ctx.drawImage(img, 0, 0, el.width, el.height);
    const line = Math.max(2, Math.round(el.width / 300));
    ctx.font = `bold ${Math.max(14, Math.round(el.width / 45))}px system-ui, sans-serif`;
    result.faces.forEach((face, i) => {
      const colour = COLOURS[face.decision.kind];
      const b = face.box;
      const [x, y, w, h] = [b.x * scale, b.y * scale, b.width * scale, b.height * scale];
      ctx.lineWidth = line;
      ctx.strokeStyle = colour;
      ctx.strokeRect(x, y, w, h);
      const text = labelOf(face, i);
      const tw = ctx.measureText(text).width + 8;
      const th = parseInt(ctx.font.split('px')[0]?.split(' ').at(-1) ?? '14', 10) + 6;
      const ty = y - th >= 0 ? y - th : y + h;
      ctx.fillStyle = colour;
      ctx.fillRect(x, ty, tw, th);
      ctx.fillStyle = '#fff';
      ctx.fillText(text, x + 4, ty + th - 6);
    });
  }, [img, result]);
  const summary = result.faces.map(labelOf).join('; ');
  return html`<canvas ref=${canvas} class="annotated" role="img"
    aria-label=${`The image with ${result.faces.length} face(s) boxed: ${summary || 'none'}`}></canvas>`;
}

function FaceCard({ face, index, img }: { face: IdentifiedFace; index: number; img: HTMLImageElement }) {
  const probe = cropFace(img, face.box);
  const d = face.decision;
  return html`<article class="card face" aria-labelledby=${`face-${index}`}>
    <h3 id=${`face-${index}`}>Face #${index + 1}: <${DecisionBadge} decision=${d} /></h3>
    <div class="evidence">
      <figure><img class="thumb" src=${probe} alt=${`Face #${index + 1} as found in the image`} /><figcaption>probe</figcaption></figure>
      <div>
        <${SimilarityBar} similarity=${d.similarity} threshold=${d.threshold} />
        <p>confidence ${fmt(d.confidence, 2)}${face.enhanced ? ' · enhanced (dark or flat face)' : ''}${restorationNote(face.restoration)}</p>
        <p><${QualityBadge} quality=${face.quality} /></p>
      </div>
    </div>
    ${
      face.candidates.length > 0
        ? html`<h4>Best candidates</h4>
        <ol class="candidates">
          ${face.candidates.map(
            (c) => html`<li>
              <${AuthImage} path=${`subjects/${enc(c.subjectId)}/thumbnail`} alt=${`Enrolled face of ${c.name ?? c.subjectId}`} className="thumb small" />
              <a href=${`#/subjects/${enc(c.subjectId)}`}>${c.name ?? c.subjectId}</a>
              <span class=${c.similarity >= d.threshold ? 'above' : 'below'}>${fmt(c.similarity)}</span>
            </li>`,
          )}
        </ol>`
        : html`<p>The gallery is empty: there is no one to compare with.</p>`
    }
  </article>`;
}

export function IdentifyPage() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [img, setImg] = useState<HTMLImageElement | undefined>();
  const [result, setResult] = useState<IdentifyResult | undefined>();
  const [name, setName] = useState('');

  const onFiles = async ([file]: File[]) => {
    if (!file) return;
    setError(undefined);
    setResult(undefined);
    setImg(undefined);
    setName(file.name);
    const refused = precheck(file);
    if (refused) {
      setError(new Error(refused));
      return;
    }
    setBusy(true);
    try {
      const answer = await postImage<IdentifyResult>('identify', file);
      const url = URL.createObjectURL(file);
      setImg(await loadImage(url));
      setResult(answer);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return html`<div class="page">
    <h1>Identify</h1>
    <${DropZone} label="Image to identify" multiple=${false} disabled=${busy} onFiles=${onFiles} />
    ${busy ? html`<p role="status" class="message">Identifying ${name}…</p>` : null}
    <${ErrorMessage} error=${error} />
    ${
      result && img
        ? html`<section aria-labelledby="result-title">
          <h2 id="result-title">${name}: ${result.width}×${result.height}, ${result.faces.length} face(s)</h2>
          ${result.faces.length === 0 ? html`<p class="message" role="status">No face was found in this image.</p>` : null}
          <div class="identify">
            <${Annotated} img=${img} result=${result} />
            <div class="faces">${result.faces.map((f, i) => html`<${FaceCard} face=${f} index=${i} img=${img} />`)}</div>
          </div>
          <p class="hint">Calibration ${result.calibration}. Every decision was written to the audit log (see Activity).</p>
        </section>`
        : null
    }
  </div>`;
}
