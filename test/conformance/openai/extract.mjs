// The part of OpenAI's openapi.json this server implements (see ../README.md): node extract.mjs < openapi.json > openapi.subset.json
import { readFileSync } from 'node:fs';
const doc = JSON.parse(readFileSync(0, 'utf8'));
const strip = (v) => Array.isArray(v) ? v.map(strip) : v && typeof v === 'object'
  ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'x-oaiMeta').map(([k, x]) => [k, strip(x)])) : v;
const paths = { '/embeddings': { post: doc.paths['/embeddings'].post }, '/models': { get: doc.paths['/models'].get }, '/models/{model}': { get: doc.paths['/models/{model}'].get } };
const schemas = {}, responses = {};
const walk = (v) => {
  if (Array.isArray(v)) return v.forEach(walk);
  if (!v || typeof v !== 'object') return;
  for (const [k, x] of Object.entries(v)) {
    if (k === '$ref' && typeof x === 'string') {
      const [, kind, name] = x.split('/').slice(1);
      const into = kind === 'schemas' ? schemas : responses;
      if (!(name in into)) { into[name] = doc.components[kind][name]; walk(into[name]); }
    } else walk(x);
  }
};
walk(paths); walk(doc.components.schemas.ErrorResponse); schemas.ErrorResponse = doc.components.schemas.ErrorResponse;
process.stdout.write(JSON.stringify(strip({ openapi: doc.openapi, info: doc.info, paths, components: { schemas, responses } }), null, 2) + '\n');
