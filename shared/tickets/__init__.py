"""Support tickets (issue 13 item 7): a shopper's or a merchant's question to ops, with a message thread."""
