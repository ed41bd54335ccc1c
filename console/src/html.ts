/** htm bound to Preact: tagged-template views without a JSX compile step. */
export { html } from 'htm/preact';
