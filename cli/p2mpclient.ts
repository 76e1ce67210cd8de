#!/usr/bin/env node
/** `p2mpclient server-1 ... server-port# file-name MSS`: the specification's sender (cli/p2mp.ts). */
import { clientMain, runBin } from './p2mp.js';

runBin('p2mpclient', clientMain);
