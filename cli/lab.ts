/** `fanout lab`, `fanout doctor`, `fanout clean`: wired up as the lab lands. */
import { CliError, EXIT } from './exit.js';

export async function labCommand(_argv: string[]): Promise<number> {
  throw new CliError('the lab is not built yet', EXIT.failed);
}
export async function doctorCommand(_argv: string[]): Promise<number> {
  throw new CliError('doctor is not built yet', EXIT.failed);
}
export async function cleanCommand(_argv: string[]): Promise<number> {
  throw new CliError('clean is not built yet', EXIT.failed);
}
