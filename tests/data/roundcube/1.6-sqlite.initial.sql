-- A minimal Roundcube 1.6 schema (2022081200) in SQLite's dialect for
-- mailmove's tests, the same tables and columns as 1.6-mysql.initial.sql.
CREATE TABLE session (sess_id varchar(128) NOT NULL PRIMARY KEY, changed datetime NOT NULL default '0000-00-00 00:00:00',
  ip varchar(40) NOT NULL default '', vars text NOT NULL);
CREATE TABLE users (user_id integer NOT NULL PRIMARY KEY, username varchar(128) NOT NULL default '',
  mail_host varchar(128) NOT NULL default '', created datetime NOT NULL default '0000-00-00 00:00:00',
  last_login datetime DEFAULT NULL, failed_login datetime DEFAULT NULL, failed_login_counter integer DEFAULT NULL,
  language varchar(16), preferences text NOT NULL default '');
CREATE UNIQUE INDEX ix_users_username ON users(username, mail_host);
CREATE TABLE cache (user_id integer NOT NULL default 0, cache_key varchar(128) NOT NULL default '',
  expires datetime DEFAULT NULL, data text NOT NULL, PRIMARY KEY (user_id, cache_key));
CREATE TABLE contacts (contact_id integer NOT NULL PRIMARY KEY, user_id integer NOT NULL,
  changed datetime NOT NULL default '0000-00-00 00:00:00', del tinyint NOT NULL default '0',
  name varchar(128) NOT NULL default '', email text NOT NULL default '', firstname varchar(128) NOT NULL default '',
  surname varchar(128) NOT NULL default '', vcard text NOT NULL default '', words text NOT NULL default '');
CREATE TABLE collected_addresses (address_id integer NOT NULL PRIMARY KEY, user_id integer NOT NULL,
  changed datetime NOT NULL default '0000-00-00 00:00:00', name varchar(255) NOT NULL default '',
  email varchar(255) NOT NULL, "type" integer NOT NULL);
CREATE TABLE contactgroups (contactgroup_id integer NOT NULL PRIMARY KEY, user_id integer NOT NULL default '0',
  changed datetime NOT NULL default '0000-00-00 00:00:00', del tinyint NOT NULL default '0',
  name varchar(128) NOT NULL default '');
CREATE TABLE contactgroupmembers (contactgroup_id integer NOT NULL, contact_id integer NOT NULL default '0',
  created datetime NOT NULL default '0000-00-00 00:00:00', PRIMARY KEY (contactgroup_id, contact_id));
CREATE TABLE identities (identity_id integer NOT NULL PRIMARY KEY, user_id integer NOT NULL default '0',
  changed datetime NOT NULL default '0000-00-00 00:00:00', del tinyint NOT NULL default '0',
  standard tinyint NOT NULL default '0', name varchar(128) NOT NULL default '',
  organization varchar(128) default '', email varchar(128) NOT NULL default '',
  "reply-to" varchar(128) NOT NULL default '', bcc varchar(128) NOT NULL default '',
  signature text NOT NULL default '', html_signature tinyint NOT NULL default '0');
CREATE TABLE responses (response_id integer NOT NULL PRIMARY KEY, user_id integer NOT NULL,
  name varchar(255) NOT NULL, data text NOT NULL, is_html tinyint NOT NULL default '0',
  changed datetime NOT NULL default '0000-00-00 00:00:00', del tinyint NOT NULL default '0');
CREATE TABLE dictionary (user_id integer DEFAULT NULL, "language" varchar(16) NOT NULL, data text NOT NULL);
CREATE UNIQUE INDEX ix_dictionary_user_language ON dictionary (user_id, "language");
CREATE TABLE searches (search_id integer NOT NULL PRIMARY KEY, user_id integer NOT NULL DEFAULT '0',
  "type" smallint NOT NULL DEFAULT '0', name varchar(128) NOT NULL, data text NOT NULL);
CREATE TABLE filestore (file_id integer NOT NULL PRIMARY KEY, user_id integer NOT NULL,
  context varchar(32) NOT NULL, filename varchar(128) NOT NULL, mtime integer NOT NULL, data text NOT NULL);
CREATE TABLE system (name varchar(64) NOT NULL PRIMARY KEY, value text NOT NULL);
INSERT INTO system (name, value) VALUES ('roundcube-version', '2022081200');
