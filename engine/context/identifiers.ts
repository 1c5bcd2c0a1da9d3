// Identifier sets for similarity search: identifiers are interned to small integers, each file is
// cut into fixed-size line chunks, and each chunk keeps the sorted set of its identifier ids.
// Jaccard similarity of the set around the cursor against every chunk finds "code like this"
// (the method llama.vscode and Continue use, over identifiers instead of whole lines).

const IDENT = /[A-Za-z_$][A-Za-z0-9_$]*/g;

/** Keywords and ubiquitous words of the supported languages: they carry no similarity signal. */
const STOPWORDS = new Set(
  `
abstract and any as assert async await bool boolean break byte case catch char class const continue
crate def default defer del delete do double dyn elif else enum except export extends extern false
final finally float fn for from func function get global go goto if impl implements import in instanceof
int interface is let long loop map match mod module mut namespace new nil none None not null number
object of or override package pass private protected pub public raise readonly ref return self Self
set short static str string struct super switch this throw throws true True False try type typeof
uint unsafe use using var void where while with yield undefined let constructor require exports
usize isize u8 u16 u32 u64 i8 i16 i32 i64 f32 f64 err error fmt len nullptr auto template typename
include define endif ifdef ifndef std`
    .split(/\s+/)
    .filter(Boolean),
);

/** Lines per similarity chunk (llama.vscode uses 64-line chunks, Tabby 500-char chunks). */
export const CHUNK_LINES = 20;

export function isSignificant(word: string): boolean {
  return word.length >= 2 && !STOPWORDS.has(word);
}

/** Distinct significant identifiers of `text`. */
export function identifierSet(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(IDENT)) if (isSignificant(m[0])) out.add(m[0]);
  return out;
}

/** Interns identifier strings as integers (ids only grow; bounded by what the index holds). */
export class Vocabulary {
  private readonly ids = new Map<string, number>();
  get size(): number {
    return this.ids.size;
  }
  id(word: string): number {
    let id = this.ids.get(word);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(word, id);
    }
    return id;
  }
  lookup(word: string): number | undefined {
    return this.ids.get(word);
  }
}

/** The sorted distinct ids of each CHUNK_LINES-line chunk of `text`. */
export function chunkIdentifiers(text: string, vocab: Vocabulary, chunkLines = CHUNK_LINES): Int32Array[] {
  const chunks: Int32Array[] = [];
  let lineStart = 0;
  let line = 0;
  let current = new Set<number>();
  const flush = () => {
    chunks.push(Int32Array.from(current).sort());
    current = new Set<number>();
  };
  while (lineStart <= text.length) {
    let end = text.indexOf('\n', lineStart);
    if (end === -1) end = text.length;
    for (const m of text.slice(lineStart, end).matchAll(IDENT)) if (isSignificant(m[0])) current.add(vocab.id(m[0]));
    line++;
    if (line % chunkLines === 0) flush();
    lineStart = end + 1;
  }
  if (line % chunkLines !== 0) flush();
  return chunks;
}

export interface ChunkHit {
  fileIndex: number;
  chunk: number;
  score: number;
}

/** Scores chunks by Jaccard similarity to `query` (vocabulary ids). `files[i]` is the chunk list of
 *  file i (undefined to skip it). Returns the best `limit` hits with score ≥ minScore, best first,
 *  ties broken by file index then chunk so the result is deterministic. */
export function topSimilarChunks(
  query: Set<number>,
  files: readonly (readonly Int32Array[] | undefined)[],
  vocabSize: number,
  limit: number,
  minScore = 0.05,
): ChunkHit[] {
  if (query.size === 0 || limit <= 0) return [];
  const mark = new Uint8Array(vocabSize + 1);
  for (const id of query) if (id < mark.length) mark[id] = 1;
  const hits: ChunkHit[] = [];
  let floor = minScore;
  for (let f = 0; f < files.length; f++) {
    const chunks = files[f];
    if (!chunks) continue;
    for (let c = 0; c < chunks.length; c++) {
      const ids = chunks[c]!;
      let inter = 0;
      for (let i = 0; i < ids.length; i++) inter += mark[ids[i]!]!;
      if (inter < 2) continue;
      const score = inter / (query.size + ids.length - inter);
      if (score < floor) continue;
      hits.push({ fileIndex: f, chunk: c, score });
      if (hits.length > limit * 4) {
        hits.sort(byScore);
        hits.length = limit;
        floor = Math.max(floor, hits[hits.length - 1]!.score);
      }
    }
  }
  hits.sort(byScore);
  if (hits.length > limit) hits.length = limit;
  return hits;
}

function byScore(a: ChunkHit, b: ChunkHit): number {
  return b.score - a.score || a.fileIndex - b.fileIndex || a.chunk - b.chunk;
}
