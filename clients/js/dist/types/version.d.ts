/** This package's version (also sent as `sdk_version` in `game.hello`); equals package.json's. */
export declare const version = "1.0.0";
