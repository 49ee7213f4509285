// The server-driven flow with the official Node library: register a simulated reader, pay, decline,
// manual capture, partial refund, set_reader_display + cancel_action.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Server, newLocation, newReader, pay, idOf, sleep } = require('./harness');

describe('server-driven flow (stripe-node against tillgate serve)', () => {
  const server = new Server();
  let stripe;
  let location;
  let reader;

  before(async () => {
    await server.start();
    stripe = server.stripe();
    location = await newLocation(stripe);
    reader = await newReader(stripe, location);
  });
  after(() => server.stop());

  it('registers a simulated reader at a location', async () => {
    assert.match(location.id, /^tml_/);
    assert.equal(location.object, 'terminal.location');
    assert.match(reader.id, /^tmr_/);
    assert.equal(reader.object, 'terminal.reader');
    assert.equal(reader.location, location.id);
    assert.equal(reader.status, 'online');
    const again = await stripe.terminal.readers.retrieve(reader.id);
    assert.equal(again.id, reader.id);
    assert.equal(again.label, reader.label);
    const listed = await stripe.terminal.readers.list({ location: location.id });
    assert.deepEqual(listed.data.map((r) => r.id), [reader.id]);
  });

  it('takes a card payment: succeeded, one charge with the card facts', async () => {
    const pi = await stripe.paymentIntents.create({
      amount: 1250,
      currency: 'usd',
      payment_method_types: ['card_present'],
      metadata: { order: 'A-17' },
    });
    assert.equal(pi.status, 'requires_payment_method');
    assert.equal(pi.metadata.order, 'A-17');
    const { reader: r, pi: paid } = await pay(stripe, reader.id, pi.id, '5555555555554444');
    assert.equal(r.action.status, 'succeeded');
    assert.equal(idOf(r.action.process_payment_intent.payment_intent), pi.id);
    assert.equal(paid.status, 'succeeded');
    assert.equal(paid.amount_received, 1250);
    const charge = await stripe.charges.retrieve(idOf(paid.latest_charge));
    assert.equal(charge.paid, true);
    assert.equal(charge.captured, true);
    assert.equal(charge.amount, 1250);
    assert.equal(charge.payment_intent, pi.id);
    assert.equal(charge.outcome.type, 'authorized');
    assert.equal(charge.payment_method_details.type, 'card_present');
    assert.equal(charge.payment_method_details.card_present.brand, 'mastercard');
    assert.equal(charge.payment_method_details.card_present.last4, '4444');
    // expand[] gives the object in place of the id, as Stripe does.
    const expanded = await stripe.paymentIntents.retrieve(pi.id, { expand: ['latest_charge'] });
    assert.equal(expanded.latest_charge.id, charge.id);
    assert.equal(expanded.latest_charge.object, 'charge');
  });

  it('declines an insufficient-funds card: requires_payment_method with last_payment_error', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method_types: ['card_present'] });
    const { reader: r, pi: declined } = await pay(stripe, reader.id, pi.id, '4000000000009995');
    assert.equal(declined.status, 'requires_payment_method');
    assert.equal(declined.amount_received, 0);
    assert.equal(declined.last_payment_error.type, 'card_error');
    assert.equal(declined.last_payment_error.code, 'card_declined');
    assert.equal(declined.last_payment_error.decline_code, 'insufficient_funds');
    assert.equal(r.action.status, 'failed');
    assert.equal(r.action.failure_code, 'card_declined');
    // The same PaymentIntent can be paid with another card afterwards.
    const { pi: retried } = await pay(stripe, reader.id, pi.id, '4242424242424242');
    assert.equal(retried.status, 'succeeded');
    assert.equal(retried.amount_received, 1000);
  });

  it('declines by test amount (ending in 05: generic_decline)', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1005, currency: 'usd', payment_method_types: ['card_present'] });
    const { pi: declined } = await pay(stripe, reader.id, pi.id);
    assert.equal(declined.status, 'requires_payment_method');
    assert.equal(declined.last_payment_error.decline_code, 'generic_decline');
  });

  it('manual capture: requires_capture, then a partial capture', async () => {
    const pi = await stripe.paymentIntents.create({
      amount: 3000,
      currency: 'usd',
      payment_method_types: ['card_present'],
      capture_method: 'manual',
    });
    const { pi: authorised } = await pay(stripe, reader.id, pi.id);
    assert.equal(authorised.status, 'requires_capture');
    assert.equal(authorised.amount_capturable, 3000);
    assert.equal(authorised.amount_received, 0);
    const captured = await stripe.paymentIntents.capture(pi.id, { amount_to_capture: 2000 });
    assert.equal(captured.status, 'succeeded');
    assert.equal(captured.amount_received, 2000);
    assert.equal(captured.amount_capturable, 0);
    const charge = await stripe.charges.retrieve(idOf(captured.latest_charge));
    assert.equal(charge.captured, true);
    assert.equal(charge.amount_captured, 2000);
  });

  it('partial refund, then the rest; the charge tracks amount_refunded', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method_types: ['card_present'] });
    const { pi: paid } = await pay(stripe, reader.id, pi.id);
    const chargeId = idOf(paid.latest_charge);
    const r1 = await stripe.refunds.create({ payment_intent: pi.id, amount: 300, reason: 'requested_by_customer' });
    assert.match(r1.id, /^re_/);
    assert.equal(r1.status, 'succeeded');
    assert.equal(r1.amount, 300);
    assert.equal(r1.charge, chargeId);
    let charge = await stripe.charges.retrieve(chargeId);
    assert.equal(charge.amount_refunded, 300);
    assert.equal(charge.refunded, false);
    const r2 = await stripe.refunds.create({ payment_intent: pi.id });
    assert.equal(r2.amount, 700);
    charge = await stripe.charges.retrieve(chargeId);
    assert.equal(charge.amount_refunded, 1000);
    assert.equal(charge.refunded, true);
    const listed = await stripe.refunds.list({ payment_intent: pi.id });
    assert.deepEqual(listed.data.map((r) => r.id), [r2.id, r1.id]);
  });

  it('set_reader_display stays in progress until cancel_action clears it', async () => {
    const cart = {
      currency: 'usd',
      line_items: [
        { amount: 450, description: 'Flat white', quantity: 2 },
        { amount: 300, description: 'Croissant', quantity: 1 },
      ],
      tax: 120,
      total: 1320,
    };
    let r = await stripe.terminal.readers.setReaderDisplay(reader.id, { type: 'cart', cart });
    assert.equal(r.action.type, 'set_reader_display');
    assert.equal(r.action.status, 'in_progress');
    assert.equal(r.action.set_reader_display.cart.total, 1320);
    assert.deepEqual(
      r.action.set_reader_display.cart.line_items.map((li) => [li.amount, li.description, li.quantity]),
      [
        [450, 'Flat white', 2],
        [300, 'Croissant', 1],
      ],
    );
    await sleep(300);
    r = await stripe.terminal.readers.retrieve(reader.id);
    assert.equal(r.action.type, 'set_reader_display');
    assert.equal(r.action.status, 'in_progress');
    r = await stripe.terminal.readers.cancelAction(reader.id);
    assert.equal(r.action, null);
  });
});
