/** Subjects: the gallery page by page (10,000 people stay fast), enrolment by drag and drop, jump to an id. */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, enc, getJson, postImage, query } from '../api.ts';
import { DropZone, ErrorMessage, messageOf, precheck, when } from '../components.ts';
import { html } from '../html.ts';
import type { Page, Subject, SubjectView } from '../types.ts';

const PAGE_SIZE = 50;

interface PhotoResult {
  file: string;
  ok: boolean;
  text: string;
  reasons?: string[];
}

/**
 * Enrols one person from one or more photos: the first photo that is accepted creates the subject (so a
 * refused first photo never leaves a half-made subject), each further one is added to it. Every refused photo
 * keeps its own sentence, with the quality reasons when quality was the cause.
 */
async function enrol(
  name: string,
  id: string,
  files: File[],
  progress: (r: PhotoResult[]) => void,
): Promise<SubjectView | undefined> {
  const results: PhotoResult[] = [];
  let subject: SubjectView | undefined;
  for (const file of files) {
    const refused = precheck(file);
    if (refused) {
      results.push({ file: file.name, ok: false, text: refused });
      progress([...results]);
      continue;
    }
    try {
      if (subject === undefined) {
        subject = await postImage<SubjectView>('subjects', file, { name, ...(id ? { id } : {}) });
      } else {
        subject = await postImage<SubjectView>(`subjects/${enc(subject.id)}/faces`, file);
      }
      const original = subject.templates.filter((t) => t.variant === 'original').at(-1);
      results.push({
        file: file.name,
        ok: true,
        text: `enrolled${original ? ` (quality ${original.quality.score.toFixed(2)})` : ''}`,
      });
    } catch (error) {
      const reasons =
        error instanceof ApiError && error.code === 'LOW_QUALITY'
          ? (error.message.match(/: ([A-Z_, ]+)\)\.$/)?.[1]?.split(', ') ?? [])
          : undefined;
      results.push({ file: file.name, ok: false, text: messageOf(error), ...(reasons ? { reasons } : {}) });
      // Someone else took the id: later photos would only repeat the same refusal.
      if (error instanceof ApiError && error.code === 'SUBJECT_EXISTS') break;
    }
    progress([...results]);
  }
  progress([...results]);
  return subject;
}

function EnrolForm({ onEnrolled }: { onEnrolled: () => void }) {
  const [name, setName] = useState('');
  const [id, setId] = useState('');
  const [busy, setBusy] = useState(false);
  const [results, setResults] = useState<PhotoResult[]>([]);
  const [problem, setProblem] = useState<string | undefined>();
  const [made, setMade] = useState<SubjectView | undefined>();

  const onFiles = async (files: File[]) => {
    setProblem(undefined);
    setMade(undefined);
    if (!name.trim()) {
      setProblem('Enter the person’s name before dropping photos.');
      return;
    }
    setBusy(true);
    setResults([]);
    try {
      const subject = await enrol(name.trim(), id.trim(), files, setResults);
      setMade(subject);
      if (subject) {
        setName('');
        setId('');
        onEnrolled();
      } else {
        setProblem('No subject was created: none of the photos could be enrolled.');
      }
    } finally {
      setBusy(false);
    }
  };

  return html`<section class="card" aria-labelledby="enrol-title">
    <h2 id="enrol-title">Enrol a person</h2>
    <div class="row">
      <label>Name <input name="name" value=${name} required maxlength="200"
        onInput=${(e: Event) => setName((e.currentTarget as HTMLInputElement).value)} /></label>
      <label>Id (optional) <input name="id" value=${id} maxlength="128" pattern="[A-Za-z0-9][A-Za-z0-9_.\\-]*"
        onInput=${(e: Event) => setId((e.currentTarget as HTMLInputElement).value)} /></label>
    </div>
    <${DropZone} label="Enrolment photos" multiple=${true} disabled=${busy} onFiles=${onFiles} />
    ${busy ? html`<p role="status" class="message">Enrolling…</p>` : null}
    ${problem ? html`<p class="message error" role="alert">${problem}</p>` : null}
    ${
      results.length > 0
        ? html`<ul class="results" aria-label="Enrolment results">
          ${results.map(
            (r) => html`<li class=${r.ok ? 'ok' : 'refused'}>
              <strong>${r.file}</strong>: ${r.text}
              ${r.reasons && r.reasons.length > 0 ? html`<div class="reasons">reasons: ${r.reasons.join(', ')}</div>` : null}
            </li>`,
          )}
        </ul>`
        : null
    }
    ${made ? html`<p class="message ok" role="status">Enrolled <a href=${`#/subjects/${enc(made.id)}`}>${made.name}</a> (${made.id}).</p>` : null}
  </section>`;
}

export function SubjectsPage() {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState<Page<Subject> | undefined>();
  const [error, setError] = useState<unknown>();
  const [filter, setFilter] = useState('');
  const [jump, setJump] = useState('');
  const [reload, setReload] = useState(0);
  const cursor = cursors.at(-1);

  useEffect(() => {
    let live = true;
    setError(undefined);
    getJson<Page<Subject>>(`subjects${query({ limit: PAGE_SIZE, cursor })}`)
      .then((p) => live && setPage(p))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [cursor, reload]);

  const shown = (page?.items ?? []).filter((s) => {
    const f = filter.trim().toLowerCase();
    return !f || s.name.toLowerCase().includes(f) || s.id.toLowerCase().includes(f);
  });

  return html`<div class="page">
    <h1>Subjects</h1>
    <${EnrolForm} onEnrolled=${() => setReload((n) => n + 1)} />
    <section class="card" aria-labelledby="list-title">
      <h2 id="list-title">Gallery</h2>
      <div class="row">
        <label>Filter this page <input type="search" value=${filter}
          onInput=${(e: Event) => setFilter((e.currentTarget as HTMLInputElement).value)} /></label>
        <form class="inline" onSubmit=${(e: Event) => {
          e.preventDefault();
          if (jump.trim()) location.hash = `#/subjects/${enc(jump.trim())}`;
        }}>
          <label>Open by id <input value=${jump} onInput=${(e: Event) => setJump((e.currentTarget as HTMLInputElement).value)} /></label>
          <button type="submit">Open</button>
        </form>
      </div>
      <${ErrorMessage} error=${error} />
      <table>
        <caption class="visually-hidden">Subjects, page ${cursors.length}</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Enrolled</th></tr></thead>
        <tbody>
          ${shown.map(
            (s) => html`<tr>
              <td><a href=${`#/subjects/${enc(s.id)}`}>${s.name}</a></td>
              <td><code>${s.id}</code></td>
              <td>${when(s.createdAt)}</td>
            </tr>`,
          )}
        </tbody>
      </table>
      ${page && page.items.length === 0 ? html`<p>No subjects yet: enrol someone above.</p>` : null}
      <nav class="pager" aria-label="Pages of subjects">
        <button type="button" disabled=${cursors.length <= 1} onClick=${() => setCursors((c) => c.slice(0, -1))}>Previous</button>
        <span>page ${cursors.length}</span>
        <button type="button" disabled=${!page?.nextCursor} onClick=${() => page?.nextCursor && setCursors((c) => [...c, page.nextCursor ?? undefined])}>Next</button>
      </nav>
    </section>
  </div>`;
}
