-- The score of a player after a spin, per the tournament's scoring rule (see scoring.py).
CREATE OR REPLACE FUNCTION tournament_score(
    scoring text, total_bet bigint, total_win bigint, best_multiplier_x100 bigint
) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE scoring
        WHEN 'total_win' THEN total_win
        WHEN 'biggest_multiplier' THEN best_multiplier_x100
        ELSE CASE WHEN total_bet = 0 THEN 0 ELSE (total_win * 10000) / total_bet END
    END
$$;
