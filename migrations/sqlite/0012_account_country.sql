-- Where an account's company is (ISO 3166-1 alpha-2, upper case), so that
-- customers can be compared with leads; a conversion carries the lead's
-- country over to the account it creates.
alter table accounts add column country text;
