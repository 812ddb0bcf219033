-- Roundcube user data for mailmove's tests: NULLs, quotes, backslashes,
-- UTF-8 with emoji, vCards with CR LF line ends.
SET sql_mode='NO_BACKSLASH_ESCAPES,PIPES_AS_CONCAT';
INSERT INTO users (user_id, username, mail_host, created, last_login, failed_login, failed_login_counter, language, preferences) VALUES
 (1, 'alice@example.org', 'localhost', '2021-03-04 05:06:07', '2026-11-01 10:00:00', NULL, NULL, 'de_DE',
  'a:2:{s:8:"timezone";s:13:"Europe/Berlin";s:9:"signature";s:4:"\o/''";}'),
 (2, 'bob@example.org', 'mail.old.example', '2022-01-01 00:00:00', NULL, '2026-10-30 09:00:00', 3, 'en_US', ''),
 (4, 'c''arol@exämple.org', 'localhost', '2020-12-31 23:59:59', NULL, NULL, NULL, NULL, NULL);
INSERT INTO identities (identity_id, user_id, changed, del, standard, name, organization, email, `reply-to`, bcc, signature, html_signature) VALUES
 (1, 1, '2021-03-04 05:06:07', 0, 1, 'Alice 😀 Müller', 'O''Reilly \ Söhne', 'alice@example.org', '', '', '-- ' || X'0D0A' || 'Alice', 0),
 (3, 4, '2021-03-04 05:06:07', 0, 1, 'Carol', '', 'c''arol@exämple.org', '', '', NULL, 0);
INSERT INTO contacts (contact_id, changed, del, name, email, firstname, surname, vcard, words, user_id) VALUES
 (1, '2024-05-06 07:08:09', 0, 'Dörte 🎉 O''Neil', 'doerte@example.net', 'Dörte', 'O''Neil',
  'BEGIN:VCARD' || X'0D0A' || 'VERSION:3.0' || X'0D0A' || 'N:O''Neil;Dörte 🎉;;;' || X'0D0A' || 'NOTE:back\slash\, comma\; semi "quote"' || X'0D0A' || 'EMAIL;TYPE=INTERNET:doerte@example.net' || X'0D0A' || 'END:VCARD',
  ' doerte@example.net dörte oneil', 1),
 (2, '2024-05-06 07:08:09', 1, '', 'x@example.net', '', '', NULL, NULL, 1),
 (5, '2025-01-01 00:00:00', 0, 'Zed', 'zed@example.net', 'Zed', '', 'BEGIN:VCARD' || X'0D0A' || 'FN:Zed' || X'0D0A' || 'END:VCARD', 'zed', 2);
INSERT INTO contactgroups (contactgroup_id, user_id, changed, del, name) VALUES (1, 1, '2024-05-06 07:08:09', 0, 'Familie & Freunde');
INSERT INTO contactgroupmembers (contactgroup_id, contact_id, created) VALUES (1, 1, '2024-05-06 07:08:09'), (1, 2, '2024-05-06 07:08:10');
INSERT INTO dictionary (user_id, language, data) VALUES (NULL, 'de_DE', 'shared words'), (1, 'de_DE', 'Grüße 👋');
INSERT INTO searches (search_id, user_id, type, name, data) VALUES (1, 1, 1, 'Unread from Dörte', 'a:1:{s:6:"search";s:6:"UNSEEN";}');
INSERT INTO filestore (file_id, user_id, context, filename, mtime, data) VALUES (1, 2, 'enigma', 'pubring.kbx', 1700000000, 'AAEC\AwQ=');
INSERT INTO cache (user_id, cache_key, expires, data) VALUES (1, 'messagecount', NULL, 'not copied');
INSERT INTO session (sess_id, changed, ip, vars) VALUES ('abc', '2026-11-01 10:00:00', '127.0.0.1', 'not copied');
