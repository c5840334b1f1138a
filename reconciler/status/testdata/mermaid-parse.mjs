// mermaid-parse.mjs checks diagrams with the real Mermaid parser, as a forge
// would read them. For tests: `go test ./reconciler/status` runs it.
//
//   node mermaid-parse.mjs MODULES_DIR MAX_CHARS FILE...
//
// MODULES_DIR holds node_modules with mermaid and jsdom (Mermaid's parser
// needs a DOM), as scripts/test-servers.sh installs them. Each FILE is the
// text of one diagram, without the ``` fence. For each file one JSON line
// goes to stdout:
//
//   {"file", "chars", "error", "type", "vertices", "edges", "classDefs",
//    "unclassed", "labels"}
//
// chars counts UTF-16 code units, as Mermaid's maxTextSize check does; error
// is "" when the diagram parses and is at most MAX_CHARS long; unclassed
// lists the vertices without a class (drawn in Mermaid's default colour);
// labels maps each vertex id to its text as a reader sees it (entity codes
// decoded, <br/> as a newline). The exit
// status is 0 when every file was read, whatever the diagrams hold, so that
// the caller reports each problem with its diagram.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [modulesDir, maxArg, ...files] = process.argv.slice(2);
const maxChars = Number(maxArg);
if (!modulesDir || !Number.isInteger(maxChars) || maxChars <= 0 || files.length === 0) {
  console.error('usage: node mermaid-parse.mjs MODULES_DIR MAX_CHARS FILE...');
  process.exit(2);
}

// Bare imports would resolve next to this file; the modules live elsewhere.
const require = createRequire(join(modulesDir, 'package.json'));
const load = async (name) => import(pathToFileURL(require.resolve(name)).href);

const { JSDOM } = await load('jsdom');
const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await load('mermaid');
// The defaults, as a forge renders: only startOnLoad is off (no page here).
mermaid.initialize({ startOnLoad: false });

// shown undoes Mermaid's parse-time entity encoding (#quot; becomes a
// placeholder that the renderer turns into &quot;) and decodes the HTML
// entities as the browser would, without interpreting tags.
const shown = (text) => {
  const html = text.replace(/ﬂ°°/g, '&#').replace(/ﬂ°/g, '&').replace(/¶ß/g, ';')
    .replace(/<br\s*\/?>/gi, '\n');
  const area = document.createElement('textarea');
  area.innerHTML = html;
  return area.value;
};

for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const out = { file, chars: text.length, error: '', type: '', vertices: 0, edges: 0,
    classDefs: [], unclassed: [], labels: {} };
  try {
    await mermaid.parse(text); // throws on a syntax error
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    out.type = diagram.type;
    const db = diagram.db;
    if (typeof db.getVertices === 'function') {
      const vertices = [...db.getVertices().values()];
      out.vertices = vertices.length;
      out.edges = db.getEdges().length;
      out.classDefs = [...db.getClasses().keys()].sort();
      for (const v of vertices) {
        out.labels[v.id] = shown(v.text);
        if (v.classes.length === 0) out.unclassed.push(v.id);
      }
    }
    if (text.length > maxChars) {
      out.error = `${text.length} characters, over the limit of ${maxChars}`;
    }
  } catch (err) {
    out.error = String(err?.message ?? err).split('\n').slice(0, 4).join('\n');
  }
  console.log(JSON.stringify(out));
}
