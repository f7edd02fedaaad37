// A Discord bot's `/imagine` command on ig, shaped for discord.js without depending on it: `Interaction` below is
// the part of discord.js's ChatInputCommandInteraction the command uses. Wire it up with
//   const ig = new IgClient(); // IG_URL and IG_API_TOKEN from the environment
//   client.on("interactionCreate", (i) => i.isChatInputCommand() && i.commandName === "imagine" && imagine(ig, i));
import { IgApiError, type IgClient, IgJobFailedError, verifyCallback } from "ig-client";

export interface Attachment {
  attachment: Uint8Array;
  name: string;
}

export interface Interaction {
  user: { id: string };
  channelId: string;
  options: { getString(name: string, required: true): string };
  deferReply(): Promise<unknown>;
  editReply(reply: { content: string; files?: Attachment[] }): Promise<unknown>;
}

/** `/imagine prompt:<text>`: make two images, show progress in the reply, then attach them. */
export async function imagine(ig: IgClient, interaction: Interaction): Promise<void> {
  await interaction.deferReply(); // Discord wants an answer within 3 s; the images take longer
  try {
    const job = await ig.generate(
      {
        model: "flux-schnell",
        params: { prompt: interaction.options.getString("prompt", true), num_outputs: 2 },
        tags: [`user:${interaction.user.id}`, `channel:${interaction.channelId}`],
      },
      { onProgress: (progress) => void interaction.editReply({ content: `Working on it (${progress.status})...` }) },
    );
    const files = await Promise.all(
      job.artifacts.map(async (artifact, index) => ({
        attachment: new Uint8Array(await new Response(await ig.artifacts.download(artifact.id)).arrayBuffer()),
        name: `imagine-${index + 1}.${artifact.content_type.split("/")[1] ?? "png"}`,
      })),
    );
    await interaction.editReply({ content: "Here you go:", files });
  } catch (error) {
    if (error instanceof IgApiError && error.status === 422) {
      const problems = error.fieldErrors.map((field) => field.message).join("; ");
      await interaction.editReply({ content: `That did not work: ${problems}` });
    } else if (error instanceof IgJobFailedError) {
      await interaction.editReply({ content: `The image could not be made (${error.code}).` });
    } else {
      throw error;
    }
  }
}

/** Or let ig call the bot back instead of waiting: a Workers/Deno-style handler for `callback_url`. */
export async function onIgEvent(
  request: Request,
  secret: string,
  post: (channel: string, text: string) => Promise<void>,
): Promise<Response> {
  const body = await request.arrayBuffer(); // verified as received, byte for byte
  const event = await verifyCallback(secret, request.headers, body).catch(() => null);
  if (event === null) return new Response("bad signature", { status: 401 });
  const channel = event.data.job.tags.find((tag) => tag.startsWith("channel:"))?.slice("channel:".length);
  if (channel && event.type === "job.succeeded") {
    await post(channel, event.data.artifacts.map((artifact) => artifact.url).join("\n"));
  }
  return new Response(null, { status: 204 });
}
