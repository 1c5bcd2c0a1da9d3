// Import resolution per language on small hand-made repositories.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RepoIndex } from '../../../engine/context/repo-index';
import { resolveImport } from '../../../engine/context/resolve';
import type { ImportInfo, LanguageId } from '../../../engine/context/types';
import { makeRepo, removeRepo } from './helpers';

const imp = (source: string, names: [string, string][] = []): ImportInfo => ({
  source,
  names: names.map(([local, imported]) => ({ local, imported })),
  reexport: false,
  line: 0,
  endLine: 0,
});

async function withRepo(files: Record<string, string>, fn: (index: RepoIndex) => void): Promise<void> {
  const root = makeRepo(files);
  try {
    const index = new RepoIndex(root);
    await index.build();
    fn(index);
  } finally {
    removeRepo(root);
  }
}

test('TypeScript/JavaScript: extensions, index files, .js → .ts, parent dirs, tsconfig paths, bare packages', async () => {
  await withRepo(
    {
      'src/app/main.ts': '',
      'src/app/util.ts': '',
      'src/lib/index.ts': '',
      'src/lib/esm.ts': '',
      'src/view.tsx': '',
      'src/legacy.js': '',
      'src/types.d.ts': '',
      'src/shared/fmt.ts': '',
      'tsconfig.json':
        '{ // comment\n "compilerOptions": { "baseUrl": ".", "paths": { "@shared/*": ["src/shared/*"], }, }, }',
    },
    (index) => {
      const r = (spec: string, from = 'src/app/main.ts') => resolveImport(index, from, 'typescript', imp(spec));
      assert.deepEqual(r('./util'), ['src/app/util.ts']);
      assert.deepEqual(r('../lib'), ['src/lib/index.ts']);
      assert.deepEqual(r('../lib/esm.js'), ['src/lib/esm.ts'], 'ESM-style .js specifier of a .ts file');
      assert.deepEqual(r('../view'), ['src/view.tsx']);
      assert.deepEqual(r('../legacy'), ['src/legacy.js']);
      assert.deepEqual(r('../types'), ['src/types.d.ts']);
      assert.deepEqual(r('@shared/fmt'), ['src/shared/fmt.ts']);
      assert.deepEqual(r('react'), [], 'packages are outside the repository');
      assert.deepEqual(r('../../../outside'), []);
      assert.deepEqual(r('./missing'), []);
    },
  );
});

test('Python: relative levels, packages, absolute modules from the root or src/, submodule imports', async () => {
  await withRepo(
    {
      'src/pkg/__init__.py': '',
      'src/pkg/models.py': '',
      'src/pkg/sub/__init__.py': '',
      'src/pkg/sub/views.py': '',
      'src/pkg/sub/helpers.py': '',
      'tools/run.py': '',
    },
    (index) => {
      const r = (i: ImportInfo, from = 'src/pkg/sub/views.py') => resolveImport(index, from, 'python', i);
      assert.deepEqual(r(imp('.helpers', [['h', 'h']])), ['src/pkg/sub/helpers.py']);
      assert.deepEqual(r(imp('..models', [['User', 'User']])), ['src/pkg/models.py']);
      assert.deepEqual(
        r(imp('..', [['models', 'models']])),
        ['src/pkg/__init__.py', 'src/pkg/models.py'],
        'from .. import models',
      );
      assert.deepEqual(r(imp('pkg.models', [['User', 'User']])), ['src/pkg/models.py'], 'absolute, under src/');
      assert.deepEqual(r(imp('pkg.sub', [['helpers', 'helpers']])), [
        'src/pkg/sub/__init__.py',
        'src/pkg/sub/helpers.py',
      ]);
      assert.deepEqual(r(imp('os', [['os', '*']])), []);
    },
  );
});

test('Go: module path from go.mod to the package directory, without test files', async () => {
  await withRepo(
    {
      'go.mod': 'module example.com/shop\n\ngo 1.22\n',
      'cmd/api/main.go': '',
      'internal/store/store.go': '',
      'internal/store/cache.go': '',
      'internal/store/store_test.go': '',
    },
    (index) => {
      const r = (spec: string) => resolveImport(index, 'cmd/api/main.go', 'go', imp(spec, [['x', '*']]));
      assert.deepEqual(r('example.com/shop/internal/store'), ['internal/store/cache.go', 'internal/store/store.go']);
      assert.deepEqual(r('fmt'), []);
      assert.deepEqual(r('github.com/other/lib'), []);
    },
  );
});

test('Rust: crate::, super::, self:: and mod declarations, item paths, workspace crates', async () => {
  await withRepo(
    {
      'Cargo.toml': '',
      'src/lib.rs': '',
      'src/store.rs': '',
      'src/store/ops.rs': '',
      'src/net/mod.rs': '',
      'src/net/tcp.rs': '',
      'crates/geo_util/src/lib.rs': '',
    },
    (index) => {
      const r = (spec: string, from = 'src/net/tcp.rs') => resolveImport(index, from, 'rust', imp(spec));
      assert.deepEqual(r('crate::store::Store'), ['src/store.rs'], 'item inside a module file');
      assert.deepEqual(r('crate::store::ops::Op'), ['src/store/ops.rs']);
      assert.deepEqual(r('super::Listener'), ['src/net/mod.rs'], 'super of net::tcp is net');
      assert.deepEqual(r('self::inner', 'src/lib.rs'), [], 'mod inner; without a file');
      assert.deepEqual(r('self::store', 'src/lib.rs'), ['src/store.rs']);
      assert.deepEqual(
        r('self::ops', 'src/store.rs'),
        ['src/store/ops.rs'],
        'child modules of store.rs live in store/',
      );
      assert.deepEqual(r('geo_util::distance'), ['crates/geo_util/src/lib.rs']);
      assert.deepEqual(r('std::collections::HashMap'), []);
    },
  );
});

test('Java packages and C/C++ includes', async () => {
  await withRepo(
    {
      'src/main/java/com/ex/app/Main.java': '',
      'src/main/java/com/ex/util/Strings.java': '',
      'src/main/java/com/ex/util/Lists.java': '',
      'include/geo/point.h': '',
      'src/geo/point.c': '',
      'src/geo/local.h': '',
    },
    (index) => {
      const j = (spec: string) => resolveImport(index, 'src/main/java/com/ex/app/Main.java', 'java', imp(spec));
      assert.deepEqual(j('com.ex.util.Strings'), ['src/main/java/com/ex/util/Strings.java']);
      assert.deepEqual(j('com.ex.util.Strings.join'), ['src/main/java/com/ex/util/Strings.java'], 'static import');
      assert.deepEqual(j('com.ex.util.*'), [
        'src/main/java/com/ex/util/Lists.java',
        'src/main/java/com/ex/util/Strings.java',
      ]);
      assert.deepEqual(j('java.util.List'), []);
      const c = (spec: string) => resolveImport(index, 'src/geo/point.c', 'c' as LanguageId, imp(spec));
      assert.deepEqual(c('local.h'), ['src/geo/local.h']);
      assert.deepEqual(c('geo/point.h'), ['include/geo/point.h']);
      assert.deepEqual(c('<geo/point.h>'), ['include/geo/point.h']);
      assert.deepEqual(c('<stdio.h>'), []);
    },
  );
});
