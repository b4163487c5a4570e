// A labelled setting with a one-line hint.
import type { ReactNode } from 'react';

export function Field(props: { label: string; hint: string; children: ReactNode }) {
  return (
    <label className="field">
      <span>{props.label}</span>
      {props.children}
      <small className="muted">{props.hint}</small>
    </label>
  );
}
