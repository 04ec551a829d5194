-- Append-only tables.
CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: write a reversing transaction instead', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
