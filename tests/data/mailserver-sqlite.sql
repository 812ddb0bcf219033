CREATE TABLE virtual_domains (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
CREATE TABLE virtual_users (id INTEGER PRIMARY KEY AUTOINCREMENT,
  domain_id INTEGER NOT NULL REFERENCES virtual_domains(id) ON DELETE CASCADE,
  email TEXT NOT NULL UNIQUE, password TEXT NOT NULL, quota INTEGER NOT NULL DEFAULT 0);
CREATE TABLE virtual_aliases (id INTEGER PRIMARY KEY AUTOINCREMENT,
  domain_id INTEGER NOT NULL REFERENCES virtual_domains(id) ON DELETE CASCADE,
  source TEXT NOT NULL, destination TEXT NOT NULL);
INSERT INTO virtual_domains (id, name) VALUES (1, 'example.org'), (2, 'bücher.example'), (5, 'o''reilly.example');
INSERT INTO virtual_users (id, domain_id, email, password, quota) VALUES
  (1, 1, 'alice@example.org', '{BLF-CRYPT}$2y$05$2WQ1sQmAdW6qmt.Vp2E8J.l3s0s8B3C7tTqQkAYzGgbu/Pa6XhD4W', 0),
  (2, 2, '😀user@bücher.example', '{SHA512-CRYPT}$6$rounds=5000$sa\lt$h"ash''q`x', 1073741824),
  (7, 5, 'back\slash@o''reilly.example', '{CRYPT}$2y$10$abc\\def$$', 9223372036854775807);
INSERT INTO virtual_aliases (id, domain_id, source, destination) VALUES
  (1, 1, 'postmaster@example.org', 'alice@example.org'),
  (2, 2, '@bücher.example', '😀user@bücher.example'),
  (3, 5, 'tab	here and crlf' || X'0D0A' || '@o''reilly.example', 'a@example.org,alice@example.org'),
  (9, 1, '', '%s $HOME `id` \n \0');
