-- seg_pg.sql — the benchmark's customers in PostgreSQL (bench/seg_pg.sh; psql -v n=N): the formula
-- of bench/seg_floor.c, only the columns the queries use. h(i,k) = x^2 mod (2^31-1) with
-- x = (i*48271 + k*1234567) mod (2^31-1), all in bigint (x^2 < 2^62). Unlogged: a throwaway
-- cluster, and reads do not depend on it.
CREATE FUNCTION h(i bigint, k bigint) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
  $$ SELECT (((i * 48271 + k * 1234567) % 2147483647) * ((i * 48271 + k * 1234567) % 2147483647)) % 2147483647 $$;

-- tag k is set when h mod 100 < 10 + 2*((7k) mod 20)
CREATE UNLOGGED TABLE c AS SELECT
  h(i, 1) % 100 < 10 + 2 * ((7 * 1) % 20) AS t1,
  h(i, 2) % 100 < 10 + 2 * ((7 * 2) % 20) AS t2,
  h(i, 3) % 100 < 10 + 2 * ((7 * 3) % 20) AS t3,
  h(i, 4) % 100 < 10 + 2 * ((7 * 4) % 20) AS t4,
  h(i, 5) % 100 < 10 + 2 * ((7 * 5) % 20) AS t5,
  h(i, 6) % 100 < 10 + 2 * ((7 * 6) % 20) AS t6,
  h(i, 7) % 100 < 10 + 2 * ((7 * 7) % 20) AS t7,
  h(i, 8) % 100 < 10 + 2 * ((7 * 8) % 20) AS t8,
  h(i, 9) % 100 < 10 + 2 * ((7 * 9) % 20) AS t9,
  h(i, 10) % 100 < 10 + 2 * ((7 * 10) % 20) AS t10,
  (18 + h(i, 0) % 63)::integer AS age,
  (h(i, 202) % 1000000)::integer AS amt,
  'v' || (h(i, 201) % 10) AS v10,
  'C' || lpad(i::text, 10, '0') AS cust_no
FROM generate_series(0::bigint, :n - 1) AS i;

VACUUM (FREEZE, ANALYZE) c;
CREATE EXTENSION pg_prewarm;
SELECT pg_prewarm('c');
