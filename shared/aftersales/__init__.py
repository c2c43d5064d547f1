"""After-sales cases (issue 13): a shopper's request to have money back, with or without returning goods."""
