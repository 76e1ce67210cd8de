#!/usr/bin/env node
/** `p2mpserver port# file-name p`: the specification's receiver (cli/p2mp.ts). */
import { runBin, serverMain } from './p2mp.js';

runBin('p2mpserver', serverMain);
