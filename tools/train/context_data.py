"""Training data that can only be predicted by reading the context (issue #14, item 5).

Two kinds, both mixed into the ordinary repository documents by prepare_data.py:

- Renamed packages. Every identifier that is local to a package (not among the identifiers most
  packages share: keywords, builtins, common APIs) is replaced, in every file of one document and in
  the file paths, by a fresh pronounceable name in the same case style. The names are drawn anew for
  each document, so they cannot be memorised: a later use of `vobrelKast` can only be predicted by
  copying it from where the context defined it.
- Recall documents. Real files of a package with a few `name = "value"` definitions inserted
  between top-level lines, and later lines that use each name with its value (`assert(name ===
  "value")` and similar). Values are random hex digits, numbers or words.
"""
import random
import re
from collections import Counter

IDENT = re.compile(r'[A-Za-z_$][A-Za-z0-9_$]*')
SYLLABLES = ['ba', 'ko', 'ri', 'mel', 'tas', 'vun', 'zor', 'pi', 'lek', 'dra', 'nov', 'qui', 'sef', 'hab', 'tor', 'gul',
             'wen', 'fay', 'jid', 'cro', 'mub', 'xan', 'pol', 'sy', 'dru', 'kai', 'ves', 'lom', 'tiz', 'rab']
WORDS = ['amber', 'birch', 'cobalt', 'dune', 'ember', 'fjord', 'garnet', 'harbor', 'indigo', 'jasper', 'kelp', 'lumen',
         'marrow', 'nectar', 'onyx', 'pollen', 'quartz', 'russet', 'saffron', 'tundra', 'umber', 'vellum', 'willow']


def common_identifiers(packages, share=0.03, min_packages=4):
    """Identifiers found in at least `share` of the packages (and at least min_packages): keywords,
    builtins and widely used APIs, which renaming must keep."""
    df = Counter()
    for pkg in packages:
        seen = set()
        for f in pkg['files']:
            seen.update(IDENT.findall(f['text']))
        df.update(seen)
    floor = max(min_packages, int(share * len(packages)))
    return {w for w, n in df.items() if n >= floor}


def fresh_word(rng, parts):
    return ''.join(rng.choice(SYLLABLES) for _ in range(parts))


def styled_name(original, rng):
    """A random name in the original's case style (camelCase, PascalCase, snake_case, UPPER_CASE)."""
    words = [fresh_word(rng, rng.choice([2, 2, 3])) for _ in range(rng.choice([1, 2, 2, 3]))]
    core = original.strip('_$')
    lead = original[: len(original) - len(original.lstrip('_$'))]
    if core.isupper() and any(c.isalpha() for c in core):
        name = '_'.join(w.upper() for w in words)
    elif '_' in core:
        name = '_'.join(words)
    elif core[:1].isupper():
        name = ''.join(w.capitalize() for w in words)
    else:
        name = words[0] + ''.join(w.capitalize() for w in words[1:])
    return lead + name


def renamer(common, rng):
    """A function text -> text that renames package-local identifiers consistently (one mapping per call
    of renamer, i.e. per document)."""
    mapping = {}
    used = set()

    def rename(m):
        w = m.group(0)
        if w in common or len(w) <= 2 or w[0].isdigit():
            return w
        if w not in mapping:
            new = styled_name(w, rng)
            while new in used or new in common:
                new = styled_name(w, rng)
            used.add(new)
            mapping[w] = new
        return mapping[w]

    return lambda text: IDENT.sub(rename, text)


def random_value(rng):
    kind = rng.random()
    if kind < 0.6:
        return ''.join(rng.choice('0123456789abcdef') for _ in range(8))
    if kind < 0.8:
        return str(rng.randint(1000, 999999))
    return rng.choice(WORDS) + '-' + rng.choice(WORDS)


def needle_name(rng):
    if rng.random() < 0.4:
        return f'zq_{fresh_word(rng, 2)}_{rng.randint(100, 999)}'
    return styled_name(rng.choice(['camelCase', 'snake_case', 'UPPER_CASE', 'PascalCase']), rng)


def definition_line(name, value, python, rng):
    if python:
        return f'{name} = "{value}"'
    return rng.choice(['const', 'const', 'let', 'export const']) + f' {name} = "{value}";'


def use_line(name, value, python, rng):
    if python:
        return rng.choice([f'assert {name} == "{value}"', f'if {name} != "{value}":\n    raise ValueError({name})'])
    return rng.choice([f'assert({name} === "{value}");', f'expect({name}).toBe("{value}");',
                       f'if ({name} !== "{value}") throw new Error({name});', f'assert({name} === "{value}");'])


def top_level_slots(lines):
    """Indexes before which a line can go between top-level statements (column 0, not a closer)."""
    return [i for i, l in enumerate(lines) if i > 0 and l[:1] not in ('', ' ', '\t', '}', ')', ']')]


def recall_files(files, rng, count):
    """Inserts `count` definitions into the first files and their uses into later positions. Returns the
    new list of (path, text)."""
    texts = [f['text'].rstrip('\n').split('\n') for f in files]
    python = [f['path'].endswith('.py') for f in files]
    needles = [(needle_name(rng), random_value(rng)) for _ in range(count)]
    # Positions as (file, line) in reading order; definitions before uses.
    slots = [(fi, li) for fi, lines in enumerate(texts) for li in top_level_slots(lines)]
    count = min(count, len(slots) // 2)
    if count == 0:
        return None
    needles = needles[:count]
    chosen = sorted(rng.sample(range(len(slots)), 2 * count))
    defs, uses = chosen[:count], chosen[count:]
    rng.shuffle(uses)
    inserts = {}
    for (name, value), d, u in zip(needles, defs, uses):
        fi, li = slots[d]
        inserts.setdefault((fi, li), []).append(definition_line(name, value, python[fi], rng))
        fi, li = slots[u]
        inserts.setdefault((fi, li), []).append(use_line(name, value, python[fi], rng))
    out = []
    for fi, lines in enumerate(texts):
        new = []
        for li, line in enumerate(lines):
            new.extend(inserts.get((fi, li), []))
            new.append(line)
        out.append((files[fi]['path'], '\n'.join(new) + '\n'))
    return out


def pairs_document(files, rng, count):
    """A short document that is mostly recall: a module of `count` definitions (between a few real
    top-level lines of the package) and a test file that uses each of them, in another order.
    Returns [(path, text)]."""
    python = rng.random() < 0.3
    ext = '.py' if python else rng.choice(['.js', '.ts'])
    filler = [l for f in files[:4] for l in f['text'].split('\n') if l and l[0] not in ' \t}])' and len(l) < 100]
    needles = [(needle_name(rng), random_value(rng)) for _ in range(count)]
    module = []
    for name, value in needles:
        if filler and rng.random() < 0.5:
            module.append(rng.choice(filler))
        module.append(definition_line(name, value, python, rng))
    order = needles[:]
    rng.shuffle(order)
    uses = [use_line(name, value, python, rng) for name, value in order]
    base = fresh_word(rng, 2)
    return [(f'src/{base}{ext}', '\n'.join(module) + '\n'), (f'test/{base}.test{ext}', '\n'.join(uses) + '\n')]


def repeat_document(files, rng):
    """A document whose last file repeats a span of an earlier one verbatim (duplicated code): every
    token of the copy is predictable only by looking it up, the plainest signal for learning to copy.
    Returns [(path, text)]."""
    src = rng.choice(files)
    text = src['text']
    a = rng.randint(0, max(0, len(text) - 400))
    a = text.rfind('\n', 0, a) + 1
    span = text[a:a + rng.randint(300, 1500)]
    between = rng.choice(files)['text'][: rng.choice([0, 200, 800, 2000])]
    return [(src['path'], span + '\n' + between), ('copy/' + src['path'], span)]
