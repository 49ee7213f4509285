// Lists with the official Node library: has_more pages and auto-pagination with `for await`.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Server, newLocation, newReader } = require('./harness');

describe('pagination (stripe-node against tillgate serve)', () => {
  const server = new Server();
  let stripe;
  const created = [];

  before(async () => {
    await server.start();
    stripe = server.stripe();
    for (let i = 0; i < 23; i++) {
      const pi = await stripe.paymentIntents.create({
        amount: 100 + i,
        currency: 'usd',
        payment_method_types: ['card_present'],
        metadata: { n: String(i) },
      });
      created.push(pi.id);
    }
  });
  after(() => server.stop());

  it('one page holds `limit` items, newest first, and says has_more', async () => {
    const page = await stripe.paymentIntents.list({ limit: 5 });
    assert.equal(page.object, 'list');
    assert.equal(page.url, '/v1/payment_intents');
    assert.equal(page.has_more, true);
    assert.deepEqual(page.data.map((p) => p.id), created.slice(-5).reverse());
  });

  it('for await walks every page once, newest first', async () => {
    const seen = [];
    for await (const pi of stripe.paymentIntents.list({ limit: 4 })) {
      seen.push(pi.id);
    }
    assert.equal(seen.length, created.length);
    assert.deepEqual(seen, [...created].reverse());
  });

  it('autoPagingToArray over readers of one location (limit 2, 5 readers)', async () => {
    const loc = await newLocation(stripe);
    const readers = [];
    for (let i = 0; i < 5; i++) readers.push((await newReader(stripe, loc)).id);
    const all = await stripe.terminal.readers.list({ location: loc.id, limit: 2 }).autoPagingToArray({ limit: 100 });
    assert.deepEqual(new Set(all.map((r) => r.id)), new Set(readers));
    assert.equal(all.length, 5);
  });
});
