// Webhooks with the official Node library: an endpoint made with stripe.webhookEndpoints.create, a real
// delivery to an HTTP server on 127.0.0.1 inside the test, verified by stripe.webhooks.constructEvent
// as a merchant's server verifies Stripe's.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { Stripe, Server, newLocation, newReader, pay, waitFor } = require('./harness');

function receiver() {
  const got = [];
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), path: req.url });
      res.writeHead(200, { 'Content-Length': '0' });
      res.end();
    });
  });
  return new Promise((resolve) =>
    srv.listen(0, '127.0.0.1', () =>
      resolve({
        got,
        url: `http://127.0.0.1:${srv.address().port}/hooks/stripe`,
        close: () => new Promise((r) => srv.close(r)),
      }),
    ),
  );
}

describe('webhooks (stripe-node against tillgate serve)', () => {
  const server = new Server({ extraEnv: { TILLGATE_WEBHOOK_RETRY_BASE_MS: '200' } });
  let stripe;
  let hooks;

  before(async () => {
    await server.start();
    stripe = server.stripe();
    hooks = await receiver();
  });
  after(async () => {
    await hooks.close();
    await server.stop();
  });

  it('a payment_intent.succeeded delivery verifies with constructEvent; a forged one does not', async () => {
    const ep = await stripe.webhookEndpoints.create({
      url: hooks.url,
      enabled_events: ['payment_intent.succeeded'],
      description: 'POS back office (node)',
    });
    assert.match(ep.id, /^we_/);
    assert.match(ep.secret, /^whsec_/);
    assert.deepEqual(ep.enabled_events, ['payment_intent.succeeded']);

    const reader = await newReader(stripe, await newLocation(stripe));
    const pi = await stripe.paymentIntents.create({ amount: 4200, currency: 'usd', payment_method_types: ['card_present'] });
    const { pi: paid } = await pay(stripe, reader.id, pi.id);
    assert.equal(paid.status, 'succeeded');

    await waitFor(() => hooks.got, (g) => g.length >= 1, { timeoutMs: 15000, what: 'a webhook delivery' });
    const [delivery] = hooks.got;
    assert.equal(delivery.path, '/hooks/stripe');
    assert.match(delivery.headers['content-type'], /^application\/json/);
    const sig = delivery.headers['stripe-signature'];
    assert.ok(sig, 'no Stripe-Signature header');

    const event = stripe.webhooks.constructEvent(delivery.body, sig, ep.secret);
    assert.equal(event.type, 'payment_intent.succeeded');
    assert.equal(event.data.object.id, pi.id);
    assert.equal(event.data.object.amount_received, 4200);
    const stored = await stripe.events.retrieve(event.id);
    assert.equal(stored.id, event.id);
    assert.equal(stored.type, 'payment_intent.succeeded');

    // Only enabled events arrive: the other events of the payment were not sent here.
    assert.ok(hooks.got.every((d) => JSON.parse(d.body).type === 'payment_intent.succeeded'));

    // A changed body, or the wrong secret, fails verification as it would against Stripe.
    const forged = delivery.body.replace('"amount_received":4200', '"amount_received":1');
    assert.notEqual(forged, delivery.body);
    assert.throws(() => stripe.webhooks.constructEvent(forged, sig, ep.secret), Stripe.errors.StripeSignatureVerificationError);
    assert.throws(
      () => stripe.webhooks.constructEvent(delivery.body, sig, 'whsec_' + 'x'.repeat(32)),
      Stripe.errors.StripeSignatureVerificationError,
    );
  });
});
