-- The one way to build a composite key: ledger_key('spin', 'a:x', 'k') = 'spin/3:a:x/1:k'.
CREATE OR REPLACE FUNCTION ledger_key(p_kind text, VARIADIC p_parts text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v_key text := p_kind;
    v_part text;
BEGIN
    -- A kind of [a-z_] is what keeps new keys apart from the old '<kind>:' ones.
    IF p_kind IS NULL OR p_kind !~ '^[a-z_]+$' THEN
        RAISE EXCEPTION 'ledger_key: invalid kind %', quote_nullable(p_kind)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_parts IS NULL OR cardinality(p_parts) = 0 THEN
        RAISE EXCEPTION 'ledger_key(%): no parts', p_kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH v_part IN ARRAY p_parts LOOP
        IF v_part IS NULL THEN
            RAISE EXCEPTION 'ledger_key(%): a part is NULL', p_kind
                USING ERRCODE = 'null_value_not_allowed';
        END IF;
        v_key := v_key || '/' || char_length(v_part) || ':' || v_part;
    END LOOP;
    RETURN v_key;
END
$$;
