/**
 * The Faceprint web console: a Preact app over the public HTTP API, routed by the URL hash (`#/identify`), so
 * one static shell serves every page locally at `/` and in AWS under the API's stage path. When the server
 * wants an API key, nothing but the key form is shown until a key is accepted.
 */
import './style.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson, onUnauthorised, routeExists } from './api.ts';
import { ErrorMessage } from './components.ts';
import { html } from './html.ts';
import { ActivityPage } from './pages/activity.ts';
import { IdentifyPage } from './pages/identify.ts';
import { ReviewsPage } from './pages/reviews.ts';
import { KeyForm, SettingsPage } from './pages/settings.ts';
import { SubjectPage } from './pages/subject.ts';
import { SubjectsPage } from './pages/subjects.ts';
import { UnknownsPage } from './pages/unknowns.ts';

type Gate = 'checking' | 'open' | 'key' | 'bad-key' | { error: unknown };

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/subjects');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/subjects');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function App() {
  const hash = useHash();
  const [gate, setGate] = useState<Gate>('checking');
  const [features, setFeatures] = useState({ reviews: false, unknowns: false });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let live = true;
    setGate('checking');
    // One cheap authenticated call decides whether the key (or its absence) is accepted.
    getJson('subjects?limit=1')
      .then(async () => {
        const [reviews, unknowns] = await Promise.all([
          routeExists('reviews?status=pending&limit=1').catch(() => false),
          routeExists('unknowns?sort=recent').catch(() => false),
        ]);
        if (!live) return;
        setFeatures({ reviews, unknowns });
        setGate('open');
      })
      .catch((error) => {
        if (!live) return;
        if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
          setGate(attempt > 0 ? 'bad-key' : 'key');
        } else setGate({ error });
      });
    return () => {
      live = false;
    };
  }, [attempt]);
  useEffect(() => onUnauthorised(() => setGate('bad-key')), []);

  const retry = () => setAttempt((n) => n + 1);
  const [, page = 'subjects', ...rest] = hash.split('/');
  const tabs: [string, string][] = [
    ['subjects', 'Subjects'],
    ['identify', 'Identify'],
    ['activity', 'Activity'],
    ...(features.reviews ? ([['reviews', 'Review queue']] as [string, string][]) : []),
    ...(features.unknowns ? ([['unknowns', 'Unknown persons']] as [string, string][]) : []),
    ['settings', 'Settings'],
  ];

  let body: unknown;
  if (gate === 'checking') body = html`<p role="status">Connecting…</p>`;
  else if (gate === 'key' || gate === 'bad-key') {
    body = html`<div class="page"><h1>Sign in</h1><${KeyForm} onSaved=${retry}
      intro=${gate === 'bad-key' ? 'That API key was not accepted; check it and try again.' : 'This Faceprint server requires an API key.'} /></div>`;
  } else if (typeof gate === 'object') {
    body = html`<div class="page"><${ErrorMessage} error=${gate.error} /><button type="button" onClick=${retry}>Try again</button></div>`;
  } else if (page === 'subjects' && rest.length > 0) {
    const id = decodeURIComponent(rest.join('/'));
    body = html`<${SubjectPage} key=${id} id=${id} />`;
  } else if (page === 'identify') body = html`<${IdentifyPage} />`;
  else if (page === 'activity') body = html`<${ActivityPage} />`;
  else if (page === 'reviews' && features.reviews) body = html`<${ReviewsPage} />`;
  else if (page === 'unknowns' && features.unknowns) body = html`<${UnknownsPage} />`;
  else if (page === 'settings') body = html`<${SettingsPage} onKeySaved=${retry} />`;
  else if (page === 'subjects') body = html`<${SubjectsPage} />`;
  else
    body = html`<div class="page"><h1>Not found</h1><p class="message error" role="alert">There is no console page “${hash}”.</p></div>`;

  return html`<a class="skip" href="#main" onClick=${(e: Event) => {
    e.preventDefault();
    document.getElementById('main')?.focus();
  }}>Skip to content</a>
    <header>
      <span class="brand">Faceprint</span>
      ${
        gate === 'open'
          ? html`<nav aria-label="Console"><ul>${tabs.map(
              ([id, label]) =>
                html`<li><a href=${`#/${id}`} aria-current=${page === id ? 'page' : undefined}>${label}</a></li>`,
            )}</ul></nav>`
          : null
      }
    </header>
    <main id="main" tabindex="-1">${body}</main>`;
}

const root = document.getElementById('app');
if (root) render(html`<${App} />`, root);
