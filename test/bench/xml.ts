/**
 * A strict little XML reader for the chart tests: enough of XML 1.0 to prove
 * the SVG well-formed (one root, matched tags, quoted attributes, no duplicate
 * attributes, only the predefined and numeric entities, no bare `<` or `&`)
 * and to hand back the element tree for queries. Throws on anything else.
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string; // concatenated character data directly inside this element
}

const NAME_START = /[A-Za-z_:]/;
const NAME_CHAR = /[A-Za-z0-9_:.-]/;
const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

export function parseXml(src: string): XmlElement {
  let i = 0;
  const fail = (msg: string): never => {
    const line = src.slice(0, i).split("\n").length;
    throw new Error(`XML not well-formed at line ${line} (offset ${i}): ${msg}`);
  };
  const startsWith = (s: string) => src.startsWith(s, i);
  const skipSpace = () => {
    while (i < src.length && " \t\r\n".includes(src[i])) i++;
  };
  const readName = (): string => {
    if (!NAME_START.test(src[i] ?? "")) fail(`expected a name, found ${JSON.stringify(src[i])}`);
    const start = i;
    while (i < src.length && NAME_CHAR.test(src[i])) i++;
    return src.slice(start, i);
  };
  const decode = (raw: string, where: string): string => {
    let out = "";
    for (let k = 0; k < raw.length; k++) {
      const c = raw[k];
      if (c === "<") fail(`bare '<' in ${where}`);
      if (c !== "&") {
        out += c;
        continue;
      }
      const end = raw.indexOf(";", k);
      if (end < 0) fail(`unterminated entity in ${where}`);
      const ent = raw.slice(k + 1, end);
      if (ent in ENTITIES) out += ENTITIES[ent];
      else if (ent.startsWith("#x") && /^[0-9a-fA-F]+$/.test(ent.slice(2))) out += String.fromCodePoint(parseInt(ent.slice(2), 16));
      else if (ent.startsWith("#") && /^[0-9]+$/.test(ent.slice(1))) out += String.fromCodePoint(parseInt(ent.slice(1), 10));
      else fail(`unknown entity &${ent}; in ${where}`);
      k = end;
    }
    return out;
  };
  const skipMisc = () => {
    for (;;) {
      skipSpace();
      if (startsWith("<?")) {
        const end = src.indexOf("?>", i);
        if (end < 0) fail("unterminated processing instruction");
        i = end + 2;
      } else if (startsWith("<!--")) {
        const end = src.indexOf("-->", i);
        if (end < 0) fail("unterminated comment");
        i = end + 3;
      } else return;
    }
  };

  const parseElement = (): XmlElement => {
    if (src[i] !== "<") fail("expected '<'");
    i++;
    const name = readName();
    const el: XmlElement = { name, attrs: {}, children: [], text: "" };
    for (;;) {
      const before = i;
      skipSpace();
      if (startsWith("/>")) {
        i += 2;
        return el;
      }
      if (src[i] === ">") {
        i++;
        break;
      }
      if (i === before) fail(`expected whitespace before an attribute of <${name}>`);
      const attr = readName();
      if (attr in el.attrs) fail(`duplicate attribute ${attr} on <${name}>`);
      skipSpace();
      if (src[i] !== "=") fail(`expected '=' after ${attr}`);
      i++;
      skipSpace();
      const q = src[i];
      if (q !== '"' && q !== "'") fail(`unquoted value of ${attr}`);
      const end = src.indexOf(q, i + 1);
      if (end < 0) fail(`unterminated value of ${attr}`);
      el.attrs[attr] = decode(src.slice(i + 1, end), `attribute ${attr}`);
      i = end + 1;
    }
    // Content.
    for (;;) {
      if (i >= src.length) fail(`<${name}> is never closed`);
      if (startsWith("</")) {
        i += 2;
        const closing = readName();
        if (closing !== name) fail(`</${closing}> closes <${name}>`);
        skipSpace();
        if (src[i] !== ">") fail("expected '>'");
        i++;
        return el;
      }
      if (startsWith("<!--")) {
        const end = src.indexOf("-->", i);
        if (end < 0) fail("unterminated comment");
        i = end + 3;
      } else if (src[i] === "<") {
        el.children.push(parseElement());
      } else {
        const end = src.indexOf("<", i);
        if (end < 0) fail(`<${name}> is never closed`);
        el.text += decode(src.slice(i, end), `text of <${name}>`);
        i = end;
      }
    }
  };

  skipMisc();
  const root = parseElement();
  skipMisc();
  if (i !== src.length) fail("content after the root element");
  return root;
}

/** Every element below `el` (depth first, document order) for which `pred` holds. */
export function findAll(el: XmlElement, pred: (e: XmlElement) => boolean): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    for (const c of e.children) {
      if (pred(c)) out.push(c);
      walk(c);
    }
  };
  walk(el);
  return out;
}

export const hasClass = (cls: string) => (e: XmlElement) => (e.attrs.class ?? "").split(" ").includes(cls);

/** All text inside an element, children included. */
export function textOf(e: XmlElement): string {
  return e.text + e.children.map(textOf).join("");
}
