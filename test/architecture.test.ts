// The engine's shape, as DESIGN.md draws it: rooms from the ground up, each importing only rooms
// below it; no loop between files (beyond type-only ones inside graph/); no long functions; one
// home for every default.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ENGINE = 'src/engine';
/** The rooms from the ground up; errors.ts and events.ts are shared by all, index.ts and node.ts are the public face. */
const ROOMS = ['graph', 'settings', 'model', 'memory', 'runtime', 'train', 'sparsity', 'run', 'export', 'session'];
const SHARED = ['errors', 'events'];
const FACE = ['index', 'node'];

function engineFiles(dir = ENGINE): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return engineFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

const source = (file: string) => ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

/** Every import and re-export of an engine file that names another engine file. */
function importsOf(file: string): Import[] {
  const out: Import[] = [];
  for (const st of source(file).statements) {
    if (!(ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) || !st.moduleSpecifier) continue;
    const spec = (st.moduleSpecifier as ts.StringLiteral).text;
    if (!spec.startsWith('.')) continue;
    let typeOnly: boolean;
    if (ts.isImportDeclaration(st)) {
      const c = st.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : null;
      typeOnly = !!c && (c.isTypeOnly || (!c.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
    } else {
      const named = st.exportClause && ts.isNamedExports(st.exportClause) ? st.exportClause.elements : null;
      typeOnly = st.isTypeOnly || (!!named && named.length > 0 && named.every((e) => e.isTypeOnly));
    }
    const target = relative('.', resolve(dirname(file), spec)).replace(/\.ts$/, '');
    out.push({ from: file, to: `${target}.ts`, typeOnly });
  }
  return out;
}

/** The room of an engine file: its folder, or its name at the engine's top. */
function roomOf(file: string): string {
  const rel = relative(ENGINE, file).replace(/\.ts$/, '');
  return rel.includes('/') ? rel.split('/')[0] : rel;
}

const files = engineFiles();
const imports = files.flatMap(importsOf);

describe('the engine\'s rooms', () => {
  it('every engine file lives in a known room', () => {
    expect(imports.length).toBeGreaterThan(100);
    const unknown = files.filter((f) => ![...ROOMS, ...SHARED, ...FACE].includes(roomOf(f)));
    expect(unknown).toEqual([]);
  });

  it('import arrows all point down: no room imports a room above it', () => {
    const rank = (f: string) => ROOMS.indexOf(roomOf(f));
    const up = imports.filter((i) => {
      const [from, to] = [roomOf(i.from), roomOf(i.to)];
      if (FACE.includes(from) || SHARED.includes(to)) return false;
      // events.ts describes what the rooms emit: it may name their types.
      if (from === 'events') return !i.typeOnly;
      if (from === 'errors' || FACE.includes(to)) return true;
      return rank(i.to) > rank(i.from);
    });
    expect(up.map((i) => `${i.from} → ${i.to}`)).toEqual([]);
  });

  it('train/ imports nothing from sparsity/ or above', () => {
    const bad = imports.filter((i) => roomOf(i.from) === 'train' && ROOMS.indexOf(roomOf(i.to)) > ROOMS.indexOf('train'));
    expect(bad.map((i) => `${i.from} → ${i.to}`)).toEqual([]);
  });

  it('no loop between files, beyond type-only imports inside graph/', () => {
    const edges = new Map<string, string[]>();
    for (const i of imports) {
      if (i.typeOnly && roomOf(i.from) === 'graph' && roomOf(i.to) === 'graph') continue;
      edges.set(i.from, [...(edges.get(i.from) ?? []), i.to]);
    }
    const loops: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, 'open');
      stack.push(f);
      for (const g of edges.get(f) ?? []) {
        if (state.get(g) === 'open') loops.push([...stack.slice(stack.indexOf(g)), g].join(' → '));
        else if (!state.has(g)) visit(g);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(loops).toEqual([]);
  });
});

/** Lines of every function, method and arrow body in the engine, longest first. */
function functionLengths(): { name: string; lines: number }[] {
  const out: { name: string; lines: number }[] = [];
  for (const file of files) {
    const src = source(file);
    const visit = (n: ts.Node) => {
      if ((ts.isFunctionLike(n) && 'body' in n && n.body) || ts.isClassStaticBlockDeclaration(n)) {
        const body = (n as { body: ts.Node }).body;
        const line = (pos: number) => src.getLineAndCharacterOfPosition(pos).line;
        const name = (n as { name?: ts.Node }).name?.getText(src) ?? '(anonymous)';
        out.push({ name: `${file}:${line(n.getStart(src)) + 1} ${name}`, lines: line(body.getEnd()) - line(body.getStart(src)) + 1 });
      }
      ts.forEachChild(n, visit);
    };
    visit(src);
  }
  return out.sort((a, b) => b.lines - a.lines);
}

describe('sizes', () => {
  it('the longest function in src/engine is under 60 lines', () => {
    const long = functionLengths().filter((f) => f.lines >= 60);
    expect(long).toEqual([]);
  });

  it('the session is a thin face: src/engine/session.ts under 240 lines, each of its methods under 16', () => {
    expect(readFileSync(join(ENGINE, 'session.ts'), 'utf8').split('\n').length).toBeLessThan(240);
    const methods = functionLengths().filter((f) => f.name.startsWith(`${join(ENGINE, 'session.ts')}:`));
    expect(methods.length).toBeGreaterThan(20);
    expect(methods.filter((f) => f.lines >= 16)).toEqual([]);
  });
});
